"""The settings of a cluster the user already has (`kubeconfig`), read and checked for load_settings.

Kept apart from settings.py, which reads the rest: one mode's settings, and the rule that each mode refuses
the other's, so that no setting is silently ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

# Settings that shape the stack's own GKE cluster, node pools and bucket: with `kubeconfig` set there is none,
# so a value other than the default would be silently ignored, and is refused instead.
GKE_ONLY_SETTINGS = (
    "zone", "clusterName", "releaseChannel", "deletionProtection", "minNodes", "initialNodes", "diskSizeGb",
    "systemMachineType", "accelerator", "spotNodes", "privateNodes", "controlPlaneAuthorizedNetworks", "bucketName",
    "modelCopyImage", "modelFolder", "hpaProfile", "loadGeneratorNodes",
)  # fmt: skip
# The serving pool's shape: the stack's own pool on GKE; with gkeNodePools, the pool the cluster has, which the
# stack must know to fit replicas and roll them (infra/rollout.py). Without it the nodes are not known: refused.
POOL_SHAPE_SETTINGS = ("machineType", "maxNodes")
# What the stack's own cluster always has, and a cluster you already have may have: the user turns each on.
EXISTING_CLUSTER_ONLY_SETTINGS = (
    "kubeContext", "gkeNodePools", "managedPrometheus", "servingGoogleServiceAccount", "servingPreemption",
)  # fmt: skip
_GOOGLE_SERVICE_ACCOUNT = re.compile(
    r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$"
)


class SettingReader(Protocol):
    """What settings.py's reader offers: the full key, and a setting's text or flag."""

    def key(self, name: str) -> str: ...
    def text(self, name: str) -> str: ...
    def flag(self, name: str) -> bool: ...


@dataclass(frozen=True)
class ExistingClusterSettings:
    """A cluster the user already has (`kubeconfig`): the stack declares Kubernetes objects only."""

    kubeconfig_path: Path
    # Empty: the kubeconfig's current context.
    context: str
    # The cluster has this stack's GKE pools (nodePoolName and load-pool, labelled and tainted as the stack's
    # own): pods are placed on them as they would be there.
    gke_node_pools: bool
    # Serving pods may preempt lower-priority pods of other workloads (servingPreemption); always so on the stack's
    # own pools.
    serving_preemption: bool
    managed_prometheus: bool
    # Serving pods act as this Google account through Workload Identity; empty means no annotation.
    google_service_account: str
    # Where TF Serving reads the model: modelSource itself, a gs:// folder (a local one is refused).
    model_uri: str = ""


def _as_config_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list) else str(value)


def read_existing_cluster(
    read: SettingReader, problems: list[str], defaults: dict[str, object]
) -> ExistingClusterSettings | None:
    """`kubeconfig` set: check it names a usable context, and that no setting of the other mode is set."""

    def changed(names: tuple[str, ...]) -> list[str]:
        return [name for name in names if read.text(name) != _as_config_text(defaults[name])]

    raw = read.text("kubeconfig")
    if not raw:
        for name in changed(EXISTING_CLUSTER_ONLY_SETTINGS):
            problems.append(
                f"{read.key(name)} applies only to a cluster you already have ({read.key('kubeconfig')} set); "
                f"the stack's own GKE cluster always has what it turns on: `pulumi config rm {name}`."
            )
        return None
    for name in changed(GKE_ONLY_SETTINGS):
        problems.append(
            f"{read.key(name)} shapes the stack's own GKE cluster, which is not created with "
            f"{read.key('kubeconfig')} set: `pulumi config rm {name}`, or unset kubeconfig."
        )
    gke_node_pools, preemption = read.flag("gkeNodePools"), read.flag("servingPreemption")
    if not gke_node_pools:
        for name in changed(POOL_SHAPE_SETTINGS):
            problems.append(
                f"{read.key(name)} describes the serving pool, which a cluster you already have holds only with "
                f"{read.key('gkeNodePools')} true: set that if it has the stack's pools, or `pulumi config rm {name}`."
            )
    elif preemption:
        problems.append(
            f"{read.key('servingPreemption')} is for a cluster without the stack's pools; on them "
            f"({read.key('gkeNodePools')} true) serving pods always preempt: `pulumi config rm servingPreemption`."
        )
    path = Path(raw).expanduser().resolve()
    context = read.text("kubeContext")
    problem = kubeconfig_problem(path, context)
    if problem:
        problems.append(f"{read.key('kubeconfig')} {raw!r}: {problem}.")
    account = read.text("servingGoogleServiceAccount")
    if account and not _GOOGLE_SERVICE_ACCOUNT.fullmatch(account):
        problems.append(
            f"{read.key('servingGoogleServiceAccount')} {account!r} is not a Google service account email like "
            "model-reader@my-project.iam.gserviceaccount.com."
        )
    return ExistingClusterSettings(
        kubeconfig_path=path,
        context=context,
        gke_node_pools=gke_node_pools,
        serving_preemption=gke_node_pools or preemption,
        managed_prometheus=read.flag("managedPrometheus"),
        google_service_account=account,
    )


def kubeconfig_problem(path: Path, context: str) -> str | None:
    """Why this kubeconfig cannot reach a cluster (no file, not a kubeconfig, no such context), or None."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        return f"cannot be read ({error.strerror}); give the path of a kubeconfig file, e.g. ~/.kube/config"
    except yaml.YAMLError:
        return "is not YAML; give the path of a kubeconfig file, e.g. ~/.kube/config"
    if not isinstance(loaded, dict) or not isinstance(loaded.get("contexts"), list):
        return "is not a kubeconfig (it has no contexts)"
    names = [entry.get("name") for entry in loaded["contexts"] if isinstance(entry, dict)]
    if context and context not in names:
        return f"has no context {context!r}; it has {', '.join(map(str, names)) or 'none'} (setting kubeContext)"
    if not context and not loaded.get("current-context"):
        return "has no current context; set kubeContext to one of " + (", ".join(map(str, names)) or "its contexts")
    return None
