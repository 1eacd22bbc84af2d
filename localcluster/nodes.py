"""Simulated nodes shaped like the stack's GKE pools: machine sizes as GKE allocates them, pool labels, taints.

The shapes come from where the stack defines them (Pulumi.yaml's defaults, infra/cluster.py, infra/node_fit.py),
so a rehearsal schedules pods exactly as the stack's own cluster would at full size.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from kubernetes import client

from infra.node_fit import MIB, NodeCapacity, node_capacity
from infra.node_pools import (
    LOAD_POOL_MACHINE_TYPE,
    LOAD_POOL_NAME,
    LOAD_TAINT_KEY,
    LOAD_TAINT_VALUE,
    NODE_POOL_LABEL,
    SERVING_TAINT_KEY,
    SERVING_TAINT_VALUE,
    SMALL_POOL_DISK_GB,
    SYSTEM_POOL_MAX_NODES,
    SYSTEM_POOL_NAME,
)
from infra.settings import project_defaults
from localcluster.controlplane import KWOK_NODE_ANNOTATION, KWOK_NODE_VALUE
from localcluster.metrics_pipeline import RESOURCE_METRICS_PATH_ANNOTATION, resource_metrics_path

# GKE gives shared-core e2-medium nodes 940m of allocatable CPU ("Plan GKE Standard node sizes", the
# allocatable table); infra/node_fit.py sizes only dedicated-core types.
SHARED_CORE_ALLOCATABLE_CPU = {"e2-medium": Decimal("0.94")}
SHARED_CORE_MEMORY_GIB = {"e2-medium": 4}
# The kubelet's default pod limit, which GKE keeps on Standard node pools.
MAX_PODS = "110"
# Ephemeral storage GKE leaves to pods on a 100 GB boot disk, as "Plan GKE Standard node sizes" shows it for one
# node (allocatable ephemeral-storage 47060071478); other disk sizes are scaled from it, which is close enough to
# schedule the stack's requests of a few GiB.
EPHEMERAL_BYTES_PER_100_GB = 47060071478
# Two load-generator nodes: enough for `--in-cluster --workers 2` (one worker and the master per node).
LOAD_NODES = 2


@dataclass(frozen=True)
class Pool:
    name: str
    machine_type: str
    # Nodes it starts with, and the most it may have (the rehearsal's autoscaler adds up to that).
    nodes: int
    taint: tuple[str, str] | None
    max_nodes: int = 0
    # The fewest the autoscaler leaves it.
    min_nodes: int = 0
    # Each node's boot disk, which bounds the ephemeral storage its pods may request.
    disk_gb: int = SMALL_POOL_DISK_GB


def system_and_serving_pools(values: Mapping[str, object], full_size: bool) -> list[Pool]:
    """The stack's system and serving pools from its settings: at their largest, or at the size they start."""
    serving_max = int(str(values["maxNodes"]))
    serving_nodes = serving_max if full_size else int(str(values["initialNodes"]))
    return [
        Pool(SYSTEM_POOL_NAME, str(values["systemMachineType"]), 1, None, SYSTEM_POOL_MAX_NODES, 1),
        Pool(
            str(values["nodePoolName"]),
            str(values["machineType"]),
            serving_nodes,
            (SERVING_TAINT_KEY, SERVING_TAINT_VALUE),
            serving_max,
            int(str(values["minNodes"])),
            int(str(values["diskSizeGb"])),
        ),
    ]


def stack_pools() -> list[Pool]:
    """The dev stack's pools at their largest: one system node, maxNodes serving nodes, two load nodes."""
    load_pool = Pool(LOAD_POOL_NAME, LOAD_POOL_MACHINE_TYPE, LOAD_NODES, (LOAD_TAINT_KEY, LOAD_TAINT_VALUE), LOAD_NODES)
    return [*system_and_serving_pools(project_defaults(), full_size=True), load_pool]


def allocatable(machine_type: str, disk_gb: int = SMALL_POOL_DISK_GB) -> dict[str, str]:
    """CPU, memory and ephemeral storage a node of this type and boot disk offers pods on GKE, as Kubernetes
    quantities."""
    capacity = node_capacity(machine_type)
    if capacity is None:
        capacity = NodeCapacity(machine_type, 2, Decimal(SHARED_CORE_MEMORY_GIB[machine_type]) * 2**30)
        cpu = SHARED_CORE_ALLOCATABLE_CPU[machine_type]
    else:
        cpu = capacity.allocatable_cpu
    memory_mib = int(capacity.allocatable_memory_bytes / MIB)
    return {
        "cpu": f"{int(cpu * 1000)}m",
        "memory": f"{memory_mib}Mi",
        "ephemeral-storage": str(EPHEMERAL_BYTES_PER_100_GB * disk_gb // 100),
        "pods": MAX_PODS,
    }


def node_manifest(pool: Pool, index: int) -> client.V1Node:
    name = f"{pool.name}-{index}"
    resources = allocatable(pool.machine_type, pool.disk_gb)
    taints = [client.V1Taint(key=pool.taint[0], value=pool.taint[1], effect="NoSchedule")] if pool.taint else None
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name,
            annotations={
                KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE,
                RESOURCE_METRICS_PATH_ANNOTATION: resource_metrics_path(name),
            },
            labels={
                NODE_POOL_LABEL: pool.name,
                "node.kubernetes.io/instance-type": pool.machine_type,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        ),
        spec=client.V1NodeSpec(taints=taints),
        status=client.V1NodeStatus(allocatable=resources, capacity=resources),
    )


def create_nodes(api: client.ApiClient, pools: list[Pool], timeout_s: float = 60.0) -> list[str]:
    """Register each pool's nodes and wait until kwok reports every one Ready."""
    core = client.CoreV1Api(api)
    names = []
    for pool in pools:
        for index in range(pool.nodes):
            core.create_node(node_manifest(pool, index))
            names.append(f"{pool.name}-{index}")
    deadline = time.monotonic() + timeout_s
    while True:
        ready = {node.metadata.name for node in core.list_node().items if node.metadata and is_ready(node)}
        missing = [name for name in names if name not in ready]
        if not missing:
            return names
        if time.monotonic() > deadline:
            raise TimeoutError(f"kwok did not make these nodes Ready within {timeout_s:.0f}s: {', '.join(missing)}")
        time.sleep(0.25)


def is_ready(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
