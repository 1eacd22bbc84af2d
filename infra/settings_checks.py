"""The checks across settings: each names the key (through `name_of`, which gives its full name) and the fix,
adding one line per problem. settings.py reads the values and calls them, before any resource is registered."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from infra.accelerators import gpu_problems
from infra.node_fit import (
    DAEMONSET_CPU,
    DAEMONSET_MEMORY_BYTES,
    GIB,
    MIB,
    SHARED_CORE_TYPES,
    compute_engine_answered,
    machine_type_problem,
    node_capacity,
    pods_per_node,
)
from infra.node_pools import LOAD_POOL_NAME, SYSTEM_POOL_NAME
from infra.settings_bounds import CHOICES
from infra.settings_values import ClusterSettings, ModelSettings, ServingSettings
from infra.validators import (
    bucket_name_problem,
    check_cidrs,
    check_image,
    cpu_quantity,
    image_tag,
    is_folder_path,
    memory_quantity,
)

RELEASE_CHANNELS = CHOICES["releaseChannel"].values
HPA_PROFILES = CHOICES["hpaProfile"].values
ACCELERATORS = CHOICES["accelerator"].values
_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
# Service-account ids derived from the cluster name must stay within 30 characters.
_CLUSTER_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,20}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# GKE's rule for node pool names: a leading letter, at most 40 characters.
_NODE_POOL_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
# TF Serving puts the model name in URLs and metric labels; keep it a short, plain name.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
# Namespaces Kubernetes and GKE keep for themselves (kube-*, Managed Prometheus' gmp-*, gke-managed-*); the
# program would create and label the namespace.
_RESERVED_NAMESPACE_PREFIXES = ("kube-", "gmp-", "gke-gmp-", "gke-managed-")
# A label value (app.kubernetes.io/instance carries the stack's name): Kubernetes' own grammar, 63 at most.
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
# GKE's limit on control plane authorized networks ("Add up to 50 CIDR ranges", GKE docs, authorized networks).
AUTHORIZED_NETWORKS_MOST = 50


def check_cluster(cluster: ClusterSettings, name_of: Callable[[str], str], problems: list[str]) -> None:
    if not _ZONE.fullmatch(cluster.zone):
        problems.append(f"{name_of('zone')} {cluster.zone!r} is not a zone; use one like us-central1-f.")
    if not _CLUSTER_NAME.fullmatch(cluster.name):
        problems.append(
            f"{name_of('clusterName')} {cluster.name!r} must start with a letter, use lowercase "
            "letters, digits and hyphens, and be at most 22 characters (service accounts are named after it)."
        )
    if not _NODE_POOL_NAME.fullmatch(cluster.node_pool_name):
        problems.append(
            f"{name_of('nodePoolName')} {cluster.node_pool_name!r} must start with a letter and be lowercase "
            "letters, digits and hyphens, at most 40 characters (GKE's rule for node pool names)."
        )
    elif cluster.node_pool_name in (SYSTEM_POOL_NAME, LOAD_POOL_NAME):
        problems.append(
            f"{name_of('nodePoolName')} {cluster.node_pool_name!r} is the name of the stack's own "
            f"{'system' if cluster.node_pool_name == SYSTEM_POOL_NAME else 'load-generator'} pool; choose another."
        )
    if cluster.release_channel not in RELEASE_CHANNELS:
        problems.append(
            f"{name_of('releaseChannel')} {cluster.release_channel!r} is not a release channel; "
            f"use one of {', '.join(RELEASE_CHANNELS)}."
        )
    if cluster.hpa_profile not in HPA_PROFILES:
        problems.append(
            f"{name_of('hpaProfile')} {cluster.hpa_profile!r} is not an HPA profile; use {' or '.join(HPA_PROFILES)}."
        )
    if cluster.min_nodes > cluster.max_nodes:
        problems.append(
            f"{name_of('minNodes')} ({cluster.min_nodes}) is above {name_of('maxNodes')} "
            f"({cluster.max_nodes}); lower minNodes or raise maxNodes."
        )
    if not cluster.min_nodes <= cluster.initial_nodes <= cluster.max_nodes:
        problems.append(
            f"{name_of('initialNodes')} ({cluster.initial_nodes}) must lie between minNodes "
            f"({cluster.min_nodes}) and maxNodes ({cluster.max_nodes})."
        )
    check_cidrs(
        cluster.control_plane_authorized_networks,
        name_of("controlPlaneAuthorizedNetworks"),
        problems,
        most=AUTHORIZED_NETWORKS_MOST,
    )
    if cluster.machine_type in SHARED_CORE_TYPES:
        problems.append(
            f"{name_of('machineType')} {cluster.machine_type!r} is a shared-core type (under 1 CPU for pods): "
            "it cannot hold a serving replica; choose a dedicated-core type like n1-standard-4."
        )
    machine_types = (("machineType", cluster.machine_type), ("systemMachineType", cluster.system_machine_type))
    for key, machine_type in machine_types:
        # Where Compute Engine answered about it, settings.py said what it said.
        problem = None if compute_engine_answered(machine_type) else machine_type_problem(machine_type)
        if problem:
            problems.append(
                f"{name_of(key)} {machine_type!r} is not a Compute Engine machine type: {problem}; "
                "pick one from `gcloud compute machine-types list --zones <zone>`."
            )


def check_accelerator(
    cluster: ClusterSettings, serving: ServingSettings, name_of: Callable[[str], str], problems: list[str]
) -> None:
    if cluster.accelerator is None:
        if "gpu" in image_tag(serving.image).split("-"):
            problems.append(
                f"{name_of('image')} {serving.image!r} is TF Serving's GPU build (a pull of several GB) on a CPU "
                f"stack; use its CPU build, e.g. {serving.image.replace('-gpu', '')}, or set {name_of('accelerator')}."
            )
        return
    if cluster.accelerator not in ACCELERATORS:
        problems.append(f"{name_of('accelerator')} {cluster.accelerator!r} is not one of {', '.join(ACCELERATORS)}.")
        return
    for problem in gpu_problems(cluster.accelerator, cluster.zone, cluster.machine_type, serving.image):
        problems.append(f"{name_of('accelerator')} {cluster.accelerator}: {problem}.")


def check_model(model: ModelSettings, name_of: Callable[[str], str], problems: list[str]) -> None:
    problem = bucket_name_problem(model.bucket_name) if model.bucket_name else None
    if problem:
        problems.append(f"{name_of('bucketName')} {model.bucket_name!r} is not a valid bucket name: {problem}.")
    if not is_folder_path(model.folder):
        problems.append(
            f"{name_of('modelFolder')} {model.folder!r} must be a folder path such as resnet_101, "
            "without empty, '.' or '..' parts."
        )
    if not _MODEL_NAME.fullmatch(model.name) or model.name in (".", ".."):
        problems.append(
            f"{name_of('modelName')} {model.name!r} must be 1-63 letters, digits, '_', '-' or '.', "
            "not starting with '-' or '.'."
        )
    check_image(model.copy_image, name_of("modelCopyImage"), problems)


def check_serving(
    serving: ServingSettings, cluster: ClusterSettings | None, name_of: Callable[[str], str], problems: list[str]
) -> None:
    """`cluster` is None for a cluster the user already has: its nodes are not known, so not checked against."""
    if not _DNS_LABEL.fullmatch(serving.namespace):
        problems.append(f"{name_of('namespace')} {serving.namespace!r} is not a valid namespace name.")
    elif serving.namespace.startswith(_RESERVED_NAMESPACE_PREFIXES):
        problems.append(
            f"{name_of('namespace')} {serving.namespace!r} is one of Kubernetes' or GKE's own namespaces, which the "
            "stack must not create or relabel; choose another, e.g. tfserving."
        )
    if not _LABEL_VALUE.fullmatch(serving.instance) or len(serving.instance) > 63:
        problems.append(
            f"The stack's name {serving.instance!r} becomes the label app.kubernetes.io/instance, which Kubernetes "
            "refuses: name the stack with at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
            "letter or digit (`pulumi stack rename`)."
        )
    check_image(serving.image, name_of("image"), problems)
    if serving.min_replicas > serving.max_replicas:
        problems.append(
            f"{name_of('minReplicas')} ({serving.min_replicas}) is above {name_of('maxReplicas')} "
            f"({serving.max_replicas}); lower minReplicas or raise maxReplicas."
        )
    check_cidrs(serving.allowed_source_ranges, name_of("allowedSourceRanges"), problems)

    cpu = cpu_quantity(serving.cpu_request, name_of("cpuRequest"), "3 or 2500m", problems)
    memory = memory_quantity(serving.memory_request, name_of("memoryRequest"), "4Gi or 4096Mi", problems)
    # An empty memoryLimit takes the request's value: then it is the request's problem, said once.
    limit_set = serving.memory_limit != serving.memory_request
    memory_limit = (
        memory_quantity(serving.memory_limit, name_of("memoryLimit"), "4Gi or 6Gi", problems) if limit_set else memory
    )
    if memory is not None and memory_limit is not None and memory_limit < memory:
        problems.append(
            f"{name_of('memoryLimit')} ({serving.memory_limit}) is below {name_of('memoryRequest')} "
            f"({serving.memory_request}); raise memoryLimit or leave it empty to equal the request."
        )
    capacity = node_capacity(cluster.machine_type) if cluster is not None else None
    if cluster is None or capacity is None:
        return
    _check_slots(serving, cluster, cpu, memory, name_of, problems)
    daemonsets = f"{DAEMONSET_CPU} CPU / {DAEMONSET_MEMORY_BYTES // MIB}Mi"
    overhead = f"after GKE's reservation and the {daemonsets} its DaemonSets take"
    if cpu is not None and cpu > capacity.schedulable_cpu:
        problems.append(
            f"{name_of('cpuRequest')} ({serving.cpu_request}) cannot fit a {capacity.machine_type} node, "
            f"which leaves {capacity.schedulable_cpu.normalize()} CPU to a pod {overhead}; lower cpuRequest "
            "or choose a larger machineType."
        )
    if memory is not None and memory > capacity.schedulable_memory_bytes:
        schedulable_gib = (capacity.schedulable_memory_bytes / GIB).quantize(Decimal("0.01"))
        problems.append(
            f"{name_of('memoryRequest')} ({serving.memory_request}) cannot fit a {capacity.machine_type} "
            f"node, which leaves {schedulable_gib}Gi to a pod {overhead}; lower memoryRequest or choose "
            "a larger machineType."
        )


def _check_slots(
    serving: ServingSettings,
    cluster: ClusterSettings,
    cpu: Decimal | None,
    memory: Decimal | None,
    name_of: Callable[[str], str],
    problems: list[str],
) -> None:
    """The minimum replicas and the warm spares must all fit the pool at its largest, at the pods a node really holds
    (one per GPU node)."""
    if cpu is None or memory is None:
        return
    per_node = pods_per_node(cluster.machine_type, cpu, memory, gpu=cluster.accelerator is not None)
    needed = serving.min_replicas + serving.spare_replicas
    if per_node and needed > per_node * cluster.max_nodes:
        spares = f" plus {name_of('spareReplicas')} ({serving.spare_replicas})" if serving.spare_replicas else ""
        problems.append(
            f"{name_of('minReplicas')} ({serving.min_replicas}){spares} need {needed} serving pods, but "
            f"{name_of('maxNodes')} ({cluster.max_nodes}) nodes hold {per_node * cluster.max_nodes} at "
            f"{per_node} per {cluster.machine_type} node; raise maxNodes or lower minReplicas or spareReplicas."
        )
