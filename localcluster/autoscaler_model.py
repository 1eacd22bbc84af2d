"""The decisions of a model of cluster-autoscaler, one rule per function, each after what cluster-autoscaler does
with its defaults (its FAQ and flags; GKE runs it for node pools with autoscaling on). It is a model: the Go module
proxy refuses k8s.io/autoscaler/cluster-autoscaler, so the real one cannot be built here (docs/local-cluster.md).

Scale-up, every scan: the pods the scheduler marked Unschedulable, except those below the expendable-pods priority
cutoff (-10: the FAQ, "How can I configure overprovisioning"), those the scheduler has nominated to a node by
preemption (they will fit once their victims go), and those that fit a node as it is (a node just registered,
before the scheduler binds the pod to it). Of the pools whose template takes them, one per loop: the one
that leaves the least unused CPU and memory on the new nodes (the least-waste expander). Nodes asked for and not
yet registered count against what the pods need.

Scale-down: a node whose pods request less than half of its CPU and of its memory
(--scale-down-utilization-threshold 0.5), and whose pods all fit on other nodes, is unneeded; unneeded for 10
minutes (--scale-down-unneeded-time), and no scale-up in the last 10 minutes (--scale-down-delay-after-add), it is
drained and removed, never below its pool's minimum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from localcluster.nodes import Pool, allocatable, node_manifest

EXPENDABLE_PRIORITY_CUTOFF = -10
UTILIZATION_THRESHOLD = 0.5


@dataclass(frozen=True)
class Rules:
    """The autoscaler's timings, seconds; defaults are cluster-autoscaler's."""

    # --scan-interval: how often it looks (GKE: "a few seconds to a few tens"; the FAQ's default 10 s).
    scan: float = 10.0
    unneeded_time: float = 600.0
    delay_after_add: float = 600.0


def requests(pod: client.V1Pod) -> tuple[float, float]:
    """The pod's CPU (cores) and memory (bytes) requests."""
    cpu = memory = 0.0
    for container in (pod.spec.containers if pod.spec else None) or []:
        wanted = (container.resources.requests if container.resources else None) or {}
        cpu += float(parse_quantity(wanted.get("cpu", "0")))
        memory += float(parse_quantity(wanted.get("memory", "0")))
    return cpu, memory


def room(pool: Pool) -> tuple[float, float]:
    size = allocatable(pool.machine_type)
    return float(parse_quantity(size["cpu"])), float(parse_quantity(size["memory"]))


def fits_pool(pod: client.V1Pod, pool: Pool) -> bool:
    """The pool's template takes the pod: its labels satisfy the selector, its taint is tolerated, it is big enough."""
    spec = pod.spec
    assert spec is not None
    template = node_manifest(pool, 0)
    labels = (template.metadata.labels if template.metadata else None) or {}
    if any(labels.get(key) != value for key, value in (spec.node_selector or {}).items()):
        return False
    if pool.taint is not None:
        key, value = pool.taint
        tolerated = any(
            t.key == key and (t.operator == "Exists" or t.value == value) and t.effect in (None, "NoSchedule")
            for t in spec.tolerations or []
        )
        if not tolerated:
            return False
    cpu, memory = requests(pod)
    cpu_room, memory_room = room(pool)
    return cpu <= cpu_room and memory <= memory_room


def wants_scale_up(pod: client.V1Pod) -> bool:
    """Unschedulable, not expendable, not nominated to a node by preemption, not on its way out."""
    status, spec = pod.status, pod.spec
    if status is None or spec is None or (pod.metadata and pod.metadata.deletion_timestamp):
        return False
    unschedulable = any(
        c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
        for c in status.conditions or []
    )
    return unschedulable and (spec.priority or 0) >= EXPENDABLE_PRIORITY_CUTOFF and not status.nominated_node_name


def nodes_needed(pods: Iterable[client.V1Pod], pool: Pool, upcoming: int) -> int:
    """First fit (largest first) of the pods into empty nodes of the pool, less the nodes already on their way."""
    cpu_room, memory_room = room(pool)
    bins: list[list[float]] = []
    for pod in sorted(pods, key=requests, reverse=True):
        cpu, memory = requests(pod)
        spot = next((b for b in bins if b[0] >= cpu and b[1] >= memory), None)
        if spot is None:
            spot = [cpu_room, memory_room]
            bins.append(spot)
        spot[0] -= cpu
        spot[1] -= memory
    return max(len(bins) - upcoming, 0)


def waste(pods: list[client.V1Pod], pool: Pool, nodes: int) -> float:
    """The least-waste expander's score: the unused share of the new nodes' CPU plus that of their memory."""
    cpu_room, memory_room = room(pool)
    cpu = sum(requests(pod)[0] for pod in pods)
    memory = sum(requests(pod)[1] for pod in pods)
    return (nodes * cpu_room - cpu) / (nodes * cpu_room) + (nodes * memory_room - memory) / (nodes * memory_room)


def choose_scale_up(
    pending: list[client.V1Pod], pools: list[Pool], members: dict[str, int], upcoming: dict[str, int]
) -> tuple[Pool, int] | None:
    """The one pool to grow this loop and by how many nodes, or None: the least waste among those with room."""
    options = []
    for pool in pools:
        pods = [pod for pod in pending if fits_pool(pod, pool)]
        needed = min(nodes_needed(pods, pool, upcoming.get(pool.name, 0)), pool.max_nodes - members.get(pool.name, 0))
        if pods and needed > 0:
            options.append((waste(pods, pool, needed), pool.name, pool, needed))
    if not options:
        return None
    _, _, pool, needed = min(options, key=lambda option: option[:2])
    return pool, needed


def utilization(pods: list[client.V1Pod], pool: Pool) -> float:
    """The larger of the CPU and memory shares the pods request of a node of the pool."""
    cpu_room, memory_room = room(pool)
    return max(sum(requests(p)[0] for p in pods) / cpu_room, sum(requests(p)[1] for p in pods) / memory_room)


Room = dict[str, tuple[Pool, float, float]]


def left_over(pods: list[client.V1Pod], free: Room) -> list[client.V1Pod]:
    """The pods that do not fit the room left on the nodes (name -> its pool, free CPU and memory), placed first
    fit, largest first: cluster-autoscaler simulates scheduling before it scales up for a pod, and before it
    removes a node."""
    left = {name: [pool, cpu, memory] for name, (pool, cpu, memory) in free.items()}
    unplaced = []
    for pod in sorted(pods, key=requests, reverse=True):
        cpu, memory = requests(pod)
        spot = next((s for s in left.values() if fits_pool(pod, s[0]) and s[1] >= cpu and s[2] >= memory), None)
        if spot is None:
            unplaced.append(pod)
            continue
        spot[1] -= cpu
        spot[2] -= memory
    return unplaced


def movable_elsewhere(pods: list[client.V1Pod], free: Room) -> bool:
    """Every pod fits the room left on other nodes."""
    return not left_over(pods, free)
