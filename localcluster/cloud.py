"""The slow parts of a cloud, for the rehearsal: nodes added for pods that fit nowhere, and the time a node
takes to boot, an image to pull and a model to load.

The cluster autoscaler is not served by the Go module proxy (docs/local-cluster.md), so this does its part the
way its FAQ describes it: every scan it looks for pods the scheduler marked Unschedulable (ignoring those whose
priority is below the expendable cutoff, -10), finds a node pool whose template takes them, and adds as many
nodes as they need, counting the nodes still booting, up to the pool's maximum. A new node carries READY_AT:
kwok makes it Ready then (stages.py), and the scheduler waits for the not-ready taint to go. A pod bound to a
node gets READY_AT too: after its node is up, the image is on the node, and (for a serving pod) the model is
loaded.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from infra.node_pools import NODE_POOL_LABEL
from localcluster.nodes import Pool, allocatable, is_ready, node_manifest
from localcluster.stages import READY_AT

# The cluster autoscaler ignores pods below this priority when it scales up (its FAQ, "expendable pods").
EXPENDABLE_PRIORITY_CUTOFF = -10
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
SCAN_SECONDS = 10.0


@dataclass(frozen=True)
class Delays:
    """Seconds each slow step takes. Defaults: the scale-up table of docs/scaling.md."""

    # GKE: a new node boots and joins in 80-120 s.
    node_boot: float = 90.0
    # TF Serving's image, about 150 MB: tens of seconds.
    image_pull: float = 30.0
    # ResNet101 from Cloud Storage: seconds to tens of seconds.
    model_load: float = 20.0
    # The cluster autoscaler scans every 10 s (notes.md).
    scan: float = SCAN_SECONDS


def _rfc3339(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_rfc3339(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def _requests(pod: client.V1Pod) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in (pod.spec.containers if pod.spec else None) or []:
        wanted = (container.resources.requests if container.resources else None) or {}
        cpu += float(parse_quantity(wanted.get("cpu", "0")))
        memory += float(parse_quantity(wanted.get("memory", "0")))
    return cpu, memory


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
    size = allocatable(pool.machine_type)
    cpu, memory = _requests(pod)
    return cpu <= float(parse_quantity(size["cpu"])) and memory <= float(parse_quantity(size["memory"]))


def _unschedulable(pod: client.V1Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable" for c in conditions)


@dataclass
class Cloud:
    """Runs in a thread beside the control plane until stop()."""

    api: client.ApiClient
    pools: list[Pool]
    delays: Delays
    # Pods whose start includes the model load (the serving replicas), by label.
    serving_labels: dict[str, str]
    added: list[str] = field(default_factory=list)
    _pulled: dict[tuple[str, str], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_scan: float = 0.0

    def __post_init__(self) -> None:
        self._core = client.CoreV1Api(self.api)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
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
        pods = self._core.list_pod_for_all_namespaces().items
        nodes = {node.metadata.name or "": node for node in self._core.list_node().items if node.metadata}
        for pod in pods:
            meta = pod.metadata
            if (
                meta
                and not meta.deletion_timestamp
                and pod.spec
                and pod.spec.node_name
                and (READY_AT not in (meta.annotations or {}))
            ):
                self._time_start(pod, nodes.get(pod.spec.node_name), now)
        if now - self._last_scan >= self.delays.scan:
            self._last_scan = now
            self._scale_up([pod for pod in pods if _unschedulable(pod)], nodes, now)

    def _time_start(self, pod: client.V1Pod, node: client.V1Node | None, now: float) -> None:
        """When the pod becomes Ready: its node up, its image pulled there, and its model loaded."""
        assert pod.spec is not None and pod.metadata is not None
        node_up = now
        node_annotations = (node.metadata.annotations if node and node.metadata else None) or {}
        if READY_AT in node_annotations:
            node_up = max(now, _parse_rfc3339(node_annotations[READY_AT]))
        ready = node_up
        for container in pod.spec.containers:
            key = (pod.spec.node_name or "", container.image or "")
            if key not in self._pulled:
                self._pulled[key] = node_up + self.delays.image_pull
            ready = max(ready, self._pulled[key])
        labels = pod.metadata.labels or {}
        if all(labels.get(k) == v for k, v in self.serving_labels.items()):
            ready += self.delays.model_load
        self._core.patch_namespaced_pod(
            pod.metadata.name or "",
            pod.metadata.namespace or "",
            {"metadata": {"annotations": {READY_AT: _rfc3339(ready)}}},
        )

    def _scale_up(self, pending: Iterable[client.V1Pod], nodes: dict[str, client.V1Node], now: float) -> None:
        for pool in self.pools:
            wanting = [
                pod
                for pod in pending
                if ((pod.spec.priority if pod.spec else 0) or 0) >= EXPENDABLE_PRIORITY_CUTOFF and fits_pool(pod, pool)
            ]
            if not wanting:
                continue
            members = [
                n
                for n in nodes.values()
                if ((n.metadata.labels or {}) if n.metadata else {}).get(NODE_POOL_LABEL) == pool.name
            ]
            booting = [n for n in members if not is_ready(n)]
            needed = self._nodes_needed(wanting, pool, len(booting))
            for index in range(len(members), min(len(members) + needed, pool.max_nodes)):
                self._add_node(pool, index, now)

    @staticmethod
    def _nodes_needed(pods: list[client.V1Pod], pool: Pool, booting: int) -> int:
        """First fit of the pending pods into empty nodes of the pool, less the nodes already on their way."""
        size = allocatable(pool.machine_type)
        cpu_room, memory_room = float(parse_quantity(size["cpu"])), float(parse_quantity(size["memory"]))
        bins: list[list[float]] = []
        for pod in sorted(pods, key=lambda p: _requests(p), reverse=True):
            cpu, memory = _requests(pod)
            spot = next((b for b in bins if b[0] >= cpu and b[1] >= memory), None)
            if spot is None:
                spot = [cpu_room, memory_room]
                bins.append(spot)
            spot[0] -= cpu
            spot[1] -= memory
        return max(len(bins) - booting, 0)

    def _add_node(self, pool: Pool, index: int, now: float) -> None:
        node = node_manifest(pool, index)
        assert node.metadata is not None and node.spec is not None
        boot_done = _rfc3339(now + self.delays.node_boot)
        node.metadata.annotations = {**(node.metadata.annotations or {}), READY_AT: boot_done}
        # As a kubelet registers: not ready, and unschedulable until the node controller sees it Ready.
        node.spec.taints = [*(node.spec.taints or []), client.V1Taint(key=NOT_READY_TAINT, effect="NoSchedule")]
        self._core.create_node(node)
        self.added.append(node.metadata.name or "")
