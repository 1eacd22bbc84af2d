"""In a cluster the stack shares: what is the stack's own, what it must not adopt, and what its destroy must not take.

An object is the stack's when it carries the stack's recommended labels (app.kubernetes.io/part-of this project,
app.kubernetes.io/instance this stack), as every object the stack makes does. Before anything is created, the
namespace and the cluster-wide objects the stack would make are read: one that exists and is not the stack's is
refused (a Kubernetes provider before 4.34 adopts an existing object on create, and its destroy would then delete
it, with everything a namespace holds: pulumi-kubernetes#2926, fixed by #4278). Before the namespace is deleted,
what it holds is listed (namespace_guard.py): anything not the stack's keeps it.

Every call has a deadline and no retries: a cluster that does not answer is a one-line problem, not a hang.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from infra.labels import INSTANCE_LABEL, PART_OF, PART_OF_LABEL

# Connect and read timeouts of each call, seconds.
TIMEOUT = (5, 20)
# What Kubernetes itself puts in every namespace, or derives from the stack's own objects, and never a user:
# events, the endpoints of Services, PodMetrics (metrics.k8s.io, a view of the pods), the CA bundle and the
# default service account.
DERIVED_RESOURCES = {("", "events"), ("events.k8s.io", "events"), ("", "endpoints"),
                     ("discovery.k8s.io", "endpointslices"), ("metrics.k8s.io", "pods")}  # fmt: skip
BUILT_IN_OBJECTS = {("configmaps", "kube-root-ca.crt"), ("serviceaccounts", "default")}


class ClusterUnreadableError(RuntimeError):
    """The cluster could not be asked; the message says what was asked and why it failed."""


@dataclass(frozen=True)
class ClusterTarget:
    """How to reach the cluster: a kubeconfig file and its context (empty: the current one)."""

    kubeconfig: Path
    context: str

    def api(self) -> client.ApiClient:
        configuration = client.Configuration()
        config.load_kube_config(str(self.kubeconfig), context=self.context or None, client_configuration=configuration)
        configuration.retries = False
        return client.ApiClient(configuration)


def is_stack_object(labels: dict[str, str] | None, instance: str) -> bool:
    labels = labels or {}
    return labels.get(PART_OF_LABEL) == PART_OF and labels.get(INSTANCE_LABEL) == instance


def _problem(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _labels_or_absent(read, what: str) -> dict[str, str] | None:
    """The object's labels ({} for none), or None when it does not exist."""
    try:
        found = read(_request_timeout=TIMEOUT)
    except ApiException as error:
        if error.status == 404:
            return None
        raise ClusterUnreadableError(f"reading {what} failed: {_problem(error)}") from error
    except (HTTPError, OSError, ValueError) as error:
        raise ClusterUnreadableError(f"reading {what} failed: {_problem(error)}") from error
    return (found.metadata.labels if found.metadata else None) or {}


def adoption_problems(target: ClusterTarget, namespace: str, priority_classes: list[str], instance: str) -> list[str]:
    """One line for each object the stack would create that exists already and is not the stack's."""
    try:
        api = target.api()
    except (config.ConfigException, OSError, ValueError) as error:
        raise ClusterUnreadableError(f"loading the kubeconfig failed: {_problem(error)}") from error
    core, scheduling = client.CoreV1Api(api), client.SchedulingV1Api(api)
    claims = [("namespace", namespace, lambda **kw: core.read_namespace(namespace, **kw))] if namespace else []
    claims += [
        ("PriorityClass", name, lambda name=name, **kw: scheduling.read_priority_class(name, **kw))
        for name in priority_classes
    ]
    problems = []
    for kind, name, read in claims:
        labels = _labels_or_absent(read, f"{kind} {name}")
        if labels is not None and not is_stack_object(labels, instance):
            owner = labels.get(INSTANCE_LABEL)
            made_by = f"stack {owner!r} of this project" if labels.get(PART_OF_LABEL) == PART_OF else "someone else"
            problems.append(
                f"{kind} {name} already exists in the cluster, made by {made_by}, not by stack {instance!r}"
            )
    return problems


def _get(api: client.ApiClient, path: str) -> dict:
    """GET a path of the API as JSON, within the deadline; an error status raises ApiException."""
    response = api.call_api(*api.param_serialize("GET", path, auth_settings=["BearerToken"]), _request_timeout=TIMEOUT)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return json.loads(response.data or b"{}")


def _listable(resources: dict) -> list[str]:
    """The plural names of the namespaced resources of one API version that can be listed."""
    return [
        resource["name"]
        for resource in resources.get("resources") or []
        if resource.get("namespaced") and "/" not in resource["name"] and "list" in (resource.get("verbs") or [])
    ]


def _namespaced_resources(api: client.ApiClient) -> Iterator[tuple[str, str, str]]:
    """(group, API path, plural) of every listable namespaced resource the API server serves."""
    yield from (("", "/api/v1", plural) for plural in _listable(_get(api, "/api/v1")))
    for group in _get(api, "/apis").get("groups") or []:
        path = f"/apis/{group['preferredVersion']['groupVersion']}"
        yield from ((group["name"], path, plural) for plural in _listable(_get(api, path)))


def foreign_objects(target: ClusterTarget, namespace: str, instance: str) -> list[str]:
    """Everything in the namespace that is not the stack's nor Kubernetes' own, as 'kind/name'; raises
    ClusterUnreadableError when any kind of object could not be listed (then nobody can be sure)."""
    try:
        api = target.api()
        foreign = []
        for group, path, plural in _namespaced_resources(api):
            if (group, plural) in DERIVED_RESOURCES:
                continue
            for item in _get(api, f"{path}/namespaces/{namespace}/{plural}").get("items") or []:
                metadata = item.get("metadata") or {}
                if (plural, metadata.get("name")) in BUILT_IN_OBJECTS or metadata.get("deletionTimestamp"):
                    continue
                if not is_stack_object(metadata.get("labels"), instance):
                    foreign.append(f"{plural}/{metadata.get('name')}")
        return foreign
    except (ApiException, HTTPError, OSError, ValueError, config.ConfigException) as error:
        raise ClusterUnreadableError(f"listing what namespace {namespace} holds failed: {_problem(error)}") from error
