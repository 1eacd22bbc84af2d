"""The slow parts of a cloud, for the rehearsal: a model of cluster-autoscaler (autoscaler_model.py) that adds and
removes nodes, and the time a node takes to boot, an image to pull, a model to load and a probe to pass.

Every delay here is injected, and recorded as such: a node asked for registers (its Node object appears, Ready)
only once its boot time has passed, as GKE's do; a pod bound to a node gets READY_AT, after which kwok makes it
Ready (stages.py): the image pulled on that node (once per node), and for a serving replica the model loaded and
the readiness probe passed on its own schedule (infra/serving_container.py's probe settings). What happens
between, the HPA, metrics-server, the scheduler, preemption, is Kubernetes'.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client

from infra.node_pools import NODE_POOL_LABEL
from infra.serving_container import READINESS_INITIAL_DELAY_S, READINESS_PERIOD_S, STARTUP_PERIOD_S
from localcluster.autoscaler_model import (
    EXPENDABLE_PRIORITY_CUTOFF,
    UTILIZATION_THRESHOLD,
    Room,
    Rules,
    choose_scale_up,
    left_over,
    movable_elsewhere,
    requests,
    room,
    utilization,
    wants_scale_up,
)
from localcluster.nodes import Pool, node_manifest
from localcluster.stages import READY_AT


@dataclass(frozen=True)
class Delays:
    """Seconds each slow step takes; injected, not measured. Defaults: the scale-up table of docs/scaling.md."""

    # GKE: a new node boots and joins in 80-120 s.
    node_boot: float = 90.0
    # TF Serving's image, about 150 MB: tens of seconds.
    image_pull: float = 30.0
    # ResNet101 from Cloud Storage: seconds to tens of seconds.
    model_load: float = 20.0


def probe_ready(started: float, model_load: float) -> float:
    """When a serving container that started at `started` turns Ready: the startup probe (every STARTUP_PERIOD_S
    from the start) passes at its first try after the model is loaded, and the readiness probe (from its initial
    delay, every READINESS_PERIOD_S) at its first try after that."""
    startup_passed = started + math.ceil(model_load / STARTUP_PERIOD_S) * STARTUP_PERIOD_S
    first_readiness = started + READINESS_INITIAL_DELAY_S
    tries = max(0, math.ceil((startup_passed - first_readiness) / READINESS_PERIOD_S))
    return first_readiness + tries * READINESS_PERIOD_S


@dataclass
class NodeRecord:
    pool: str
    asked_at: float
    registered_at: float
    removed_at: float | None = None


@dataclass
class PodRecord:
    """A pod's way to Ready as the model timed it: what of it was injected, and how much."""

    node: str
    created_at: float
    ready_at: float
    # Node boot (when the pod waited for a node asked for after it was made), image pull, model load, probes.
    injected: dict[str, float]
    # From the pod's creation to its node being asked for, where it waited for one: the model's scan.
    autoscaler_wait: float


def _priority(pod: client.V1Pod) -> int:
    return (pod.spec.priority if pod.spec else 0) or 0


def _rfc3339(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Cloud:
    """Runs in a thread beside the control plane until stop()."""

    api: client.ApiClient
    pools: list[Pool]
    delays: Delays
    # Pods whose start includes the model load and the probes (the serving replicas), by label.
    serving_labels: dict[str, str]
    rules: Rules = field(default_factory=Rules)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    pods: dict[str, PodRecord] = field(default_factory=dict)
    _pulled: dict[tuple[str, str], float] = field(default_factory=dict)
    _unneeded_since: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_scan: float = float("-inf")
    _last_scale_up: float = float("-inf")

    def __post_init__(self) -> None:
        self._core = client.CoreV1Api(self.api)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._by_name = {pool.name: pool for pool in self.pools}

    def start(self) -> None:
        now = time.time()
        for node in self._core.list_node().items:
            pool = ((node.metadata.labels or {}) if node.metadata else {}).get(NODE_POOL_LABEL, "")
            if node.metadata and pool in self._by_name:
                self.nodes[node.metadata.name or ""] = NodeRecord(pool, now, now)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.step(time.time())
            except client.ApiException:
                continue  # a refused call now is retried at the next step, as a controller would

    def step(self, now: float) -> None:
        registered = {node.metadata.name for node in self._core.list_node().items if node.metadata}
        for name, record in self.nodes.items():
            if record.registered_at <= now and record.removed_at is None and name not in registered:
                self._register(name, record)
        pods = self._core.list_pod_for_all_namespaces().items
        for pod in pods:
            meta = pod.metadata
            if meta is None or meta.deletion_timestamp or not (pod.spec and pod.spec.node_name):
                continue
            if READY_AT not in (meta.annotations or {}):
                self._time_start(pod, now)
        if now - self._last_scan >= self.rules.scan:
            self._last_scan = now
            on_node, free = self._room(pods, now)
            self._scale_up(left_over([pod for pod in pods if wants_scale_up(pod)], free), now)
            self._scale_down(on_node, free, now)

    def _register(self, name: str, record: NodeRecord) -> None:
        """The node's boot is over: its kubelet registers it, Ready (kwok plays it so, no READY_AT)."""
        index = int(name.rsplit("-", 1)[1])
        self._core.create_node(node_manifest(self._by_name[record.pool], index))

    def _time_start(self, pod: client.V1Pod, now: float) -> None:
        """When the pod becomes Ready: its image pulled on its node, and for a serving one its model loaded and its
        probes passed; recorded with what was injected."""
        assert pod.spec is not None and pod.metadata is not None
        node = self.nodes.get(pod.spec.node_name or "")
        created = pod.metadata.creation_timestamp.timestamp() if pod.metadata.creation_timestamp else now
        injected: dict[str, float] = {}
        waited = 0.0
        if node is not None and node.asked_at >= created:
            injected["node boot"] = node.registered_at - node.asked_at
            waited = node.asked_at - created
        started = now
        for container in pod.spec.containers:
            key = (pod.spec.node_name or "", container.image or "")
            if key not in self._pulled:
                self._pulled[key] = now + self.delays.image_pull
            started = max(started, self._pulled[key])
        injected["image pull"] = started - now
        ready = started
        labels = pod.metadata.labels or {}
        if all(labels.get(k) == v for k, v in self.serving_labels.items()):
            ready = probe_ready(started, self.delays.model_load)
            injected["model load"] = self.delays.model_load
            injected["probes"] = ready - started - self.delays.model_load
        self.pods[pod.metadata.name or ""] = PodRecord(pod.spec.node_name or "", created, ready, injected, waited)
        self._core.patch_namespaced_pod(
            pod.metadata.name or "",
            pod.metadata.namespace or "",
            {"metadata": {"annotations": {READY_AT: _rfc3339(ready)}}},
        )

    def _members(self, pool: str) -> list[str]:
        return [n for n, r in self.nodes.items() if r.pool == pool and r.removed_at is None]

    def _scale_up(self, pending: list[client.V1Pod], now: float) -> None:
        members = {pool.name: len(self._members(pool.name)) for pool in self.pools}
        upcoming = {
            pool.name: sum(1 for n in self._members(pool.name) if self.nodes[n].registered_at > now)
            for pool in self.pools
        }
        choice = choose_scale_up(pending, self.pools, members, upcoming)
        if choice is None:
            return
        pool, needed = choice
        taken = {int(name.rsplit("-", 1)[1]) for name in self.nodes if self.nodes[name].pool == pool.name}
        for index in [i for i in range(len(taken) + needed) if i not in taken][:needed]:
            self.nodes[f"{pool.name}-{index}"] = NodeRecord(pool.name, now, now + self.delays.node_boot)
        self._last_scale_up = now

    def _room(self, pods: list[client.V1Pod], now: float) -> tuple[dict[str, list[client.V1Pod]], Room]:
        """The pods on each registered node, and the room each has left."""
        on_node: dict[str, list[client.V1Pod]] = {}
        for pod in pods:
            if pod.spec and pod.spec.node_name and not (pod.metadata and pod.metadata.deletion_timestamp):
                on_node.setdefault(pod.spec.node_name, []).append(pod)
        free: Room = {}
        for name, record in self.nodes.items():
            if record.removed_at is None and record.registered_at <= now:
                pool = self._by_name[record.pool]
                cpu, memory = room(pool)
                used = [requests(p) for p in on_node.get(name, [])]
                free[name] = (pool, cpu - sum(u[0] for u in used), memory - sum(u[1] for u in used))
        return on_node, free

    def _scale_down(self, on_node: dict[str, list[client.V1Pod]], free: Room, now: float) -> None:
        """At most one node a loop: the first unneeded for the rules' time, none soon after a scale-up."""
        for name in free:
            record = self.nodes[name]
            pool = self._by_name[record.pool]
            movable = [p for p in on_node.get(name, []) if _priority(p) >= EXPENDABLE_PRIORITY_CUTOFF]
            others = {n: f for n, f in free.items() if n != name}
            if utilization(movable, pool) < UTILIZATION_THRESHOLD and movable_elsewhere(movable, others):
                self._unneeded_since.setdefault(name, now)
            else:
                self._unneeded_since.pop(name, None)
        if now - self._last_scale_up < self.rules.delay_after_add:
            return
        for name, since in list(self._unneeded_since.items()):
            record = self.nodes[name]
            above_minimum = len(self._members(record.pool)) > self._by_name[record.pool].min_nodes
            if now - since >= self.rules.unneeded_time and above_minimum:
                for pod in on_node.get(name, []):
                    assert pod.metadata is not None
                    self._core.delete_namespaced_pod(pod.metadata.name or "", pod.metadata.namespace or "")
                self._core.delete_node(name)
                record.removed_at = now
                self._unneeded_since.pop(name)
                return
