"""What the rehearsal plays of the load: the CPU each serving replica burns, written on its pod for kwok to report.

The load model (load_model.py) says how many cores the whole serving system burns at each moment; the Ready
replicas share them evenly, as the Service spreads the requests, up to their node's cores. Each second the
writer puts a replica's share on its pod (CPU_USAGE_ANNOTATION); kwok integrates it into the node's resource
metrics, metrics-server scrapes those, and the HPA reads metrics.k8s.io: every step after this one is Kubernetes'.
A replica that is not Ready serves nothing and gets no share.
"""

from __future__ import annotations

import threading
import time

from kubernetes import client

from localcluster.load_model import LoadModel, cores_per_replica
from localcluster.metrics_pipeline import CPU_USAGE_ANNOTATION

WRITE_EVERY_S = 1.0


def _is_ready(pod: client.V1Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


class UsageWriter:
    """Runs in a thread from start() until stop(); the load's clock starts at start()."""

    def __init__(
        self, api: client.ApiClient, model: LoadModel, namespace: str, selector: str, node_cores: float
    ) -> None:
        self._core = client.CoreV1Api(api)
        self.model, self.namespace, self.selector, self.node_cores = model, namespace, selector, node_cores
        self.started = 0.0
        self._written: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> float:
        self.started = time.time()
        self._thread.start()
        return self.started

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(WRITE_EVERY_S):
            try:
                self.write(time.time() - self.started)
            except client.ApiException:
                continue  # a refused call now is retried at the next second

    def write(self, elapsed: float) -> dict[str, str]:
        """Each serving pod's CPU now, as a quantity, written where it changed; what was written."""
        pods = self._core.list_namespaced_pod(self.namespace, label_selector=self.selector).items
        ready = [pod for pod in pods if _is_ready(pod)]
        share = cores_per_replica(self.model.cpu_cores(elapsed), len(ready), self.node_cores)
        wanted = {}
        for pod in pods:
            name = (pod.metadata.name if pod.metadata else None) or ""
            wanted[name] = f"{round(share * 1000) if pod in ready else 0}m"
            if self._written.get(name) != wanted[name]:
                annotations = {CPU_USAGE_ANNOTATION: wanted[name]}
                self._core.patch_namespaced_pod(name, self.namespace, {"metadata": {"annotations": annotations}})
        self._written = wanted
        return wanted
