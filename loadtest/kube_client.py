"""A Kubernetes API client from a kubeconfig file, or from the one the stack exports; one line when it is not one."""

from __future__ import annotations

import json
from typing import Any

import yaml
from kubernetes import client, config

from loadtest.target import TargetError

# What a kubeconfig that is not one raises, from the YAML parser or the client's loader.
_KUBECONFIG_ERRORS = (config.ConfigException, OSError, yaml.YAMLError, TypeError, AttributeError, ValueError, KeyError)


def kubeconfig_client(path: str | None, context: str | None) -> tuple[client.ApiClient, dict]:
    """A client from a kubeconfig file (None: ~/.kube/config), and the context it uses."""
    shown = path or "~/.kube/config"
    try:
        api_client = config.new_client_from_config(config_file=path, context=context)
        listed: tuple[Any, Any] = config.list_kube_config_contexts(config_file=path)
        contexts, current = listed
        active: dict = next((c for c in contexts if c["name"] == context), {}) if context else current
    except _KUBECONFIG_ERRORS as error:
        raise TargetError(f"Cannot load the kubeconfig {shown}: {_first_line(error)}") from error
    return api_client, active


def stack_api_client(outputs: dict, stack: str, context: str | None = None) -> client.ApiClient:
    """A Kubernetes client from the stack's exported kubeconfig, or the file of a cluster the user already has."""
    if "kubeconfigPath" in outputs:
        try:
            return config.new_client_from_config(
                config_file=outputs["kubeconfigPath"], context=context or outputs.get("kubeContext") or None
            )
        except _KUBECONFIG_ERRORS as error:
            path = outputs["kubeconfigPath"]
            raise TargetError(f"Cannot use {path}, stack {stack}'s kubeconfig: {_first_line(error)}") from error
    if "kubeconfig" not in outputs:
        raise TargetError(f"Stack {stack} has no kubeconfig output yet; run `pulumi up` or pass --kubeconfig.")
    try:
        return config.new_client_from_config_dict(json.loads(outputs["kubeconfig"]), context=context)
    except _KUBECONFIG_ERRORS as error:
        raise TargetError(f"Cannot use stack {stack}'s kubeconfig: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    if not isinstance(error, (config.ConfigException, OSError, yaml.YAMLError)):
        return "it is not a kubeconfig (a YAML mapping of clusters, contexts and users)"
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
