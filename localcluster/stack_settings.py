"""A stack's settings as the local control plane deploys them: Pulumi.yaml's defaults overlaid by the stack file (as
the CLI hands them over), a SETTING=VALUE change, and the existing-cluster stack's share of them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.existing_settings import EXISTING_CLUSTER_ONLY_SETTINGS, GKE_ONLY_SETTINGS


def parse_change(text: str, values: dict[str, object]) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or key not in values:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write it as SETTING=VALUE with a setting of Pulumi.yaml, e.g. spareReplicas=1"
        )
    return key, value


def kubernetes_config(values: dict[str, object], kubeconfig: Path) -> dict[str, object]:
    """What the existing-cluster stack takes of the stack's settings: all but what shapes GKE (the pools do)."""
    left_out = {*GKE_ONLY_SETTINGS, *EXISTING_CLUSTER_ONLY_SETTINGS, "kubeconfig"}
    kept = {key: value for key, value in values.items() if key not in left_out}
    if not str(kept.get("modelSource", "")).startswith("gs://"):
        kept.pop("modelSource", None)  # no model is read here; a local folder would need the stack's bucket
    return {**kept, **local_cluster_settings(kubeconfig)}


def local_cluster_settings(kubeconfig: Path) -> dict[str, object]:
    """What any stack needs on the local control plane: its kubeconfig, and its pods placed on the simulated nodes,
    which carry the labels and taints of the stack's GKE pools (without gkeNodePools a serving replica stays
    Pending: "untolerated taint")."""
    return {"kubeconfig": str(kubeconfig), "gkeNodePools": True}


def config_hints(kubeconfig: Path, stack: str) -> list[str]:
    """The `pulumi config set` lines that point a stack at the local control plane, as a user pastes them."""
    return [
        f"pulumi config set {key} {json.dumps(value) if isinstance(value, bool) else value} --stack {stack}"
        for key, value in local_cluster_settings(kubeconfig).items()
    ]
