"""The resource-metrics pipeline of a real cluster, on the local control plane: kwok serves each node's
kubelet-style resource metrics from the CPU written on each pod (localcluster/metrics/), metrics-server scrapes
them and serves metrics.k8s.io through the API server's aggregation layer, and the HPA reads it there.

metrics-server runs as kwokctl runs it outside a cluster: the admin kubeconfig, the nodes' InternalIP (127.0.0.1)
and kubelet port (kwok's), kwok's self-signed certificate accepted, a 15 s resolution; the APIService reaches it
through an ExternalName Service of 127.0.0.1, and the front proxy's certificate (pki.py) tells it who asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client

from localcluster.processes import ControlPlaneError

METRICS_DIR = Path(__file__).resolve().parent / "metrics"
# The CPU the rehearsal says a pod uses now, as a Kubernetes quantity (the usage file reads it).
CPU_USAGE_ANNOTATION = "rehearsal.tfserving.dev/cpu-usage"
# The node annotation that tells metrics-server where a node's resource metrics are (its scraper's client.go).
RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
SERVICE_NAMESPACE, SERVICE_NAME = "kube-system", "metrics-server"
# metrics-server's default and kwokctl's: each pod's CPU is the rate between two scrapes this far apart.
METRIC_RESOLUTION = "15s"


def kwok_metrics_config() -> list[dict]:
    """kwok's Metric and ClusterResourceUsage objects, for its --config beside the stages."""
    return [yaml.safe_load(path.read_text()) for path in sorted(METRICS_DIR.glob("*.yaml"))]


def resource_metrics_path(node_name: str) -> str:
    path = next(c for c in kwok_metrics_config() if c["kind"] == "Metric")["spec"]["path"]
    return path.replace("{nodeName}", node_name)


def metrics_server_args(kubeconfig: Path, port: int, cert_dir: Path) -> list[str]:
    config = str(kubeconfig)
    return [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--kubelet-insecure-tls",
        f"--metric-resolution={METRIC_RESOLUTION}",
    ]


def register(api: client.ApiClient, port: int) -> None:
    """The Service the aggregator resolves (ExternalName 127.0.0.1) and the APIService that routes to it."""
    client.CoreV1Api(api).create_namespaced_service(
        SERVICE_NAMESPACE,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=SERVICE_NAME),
            spec=client.V1ServiceSpec(
                type="ExternalName", external_name="127.0.0.1", ports=[client.V1ServicePort(port=port)]
            ),
        ),
    )
    client.ApiregistrationV1Api(api).create_api_service(
        client.V1APIService(
            metadata=client.V1ObjectMeta(name=f"{VERSION}.{GROUP}"),
            spec=client.V1APIServiceSpec(
                group=GROUP,
                version=VERSION,
                group_priority_minimum=100,
                version_priority=100,
                insecure_skip_tls_verify=True,  # metrics-server's self-signed certificate, on 127.0.0.1
                service=client.ApiregistrationV1ServiceReference(
                    namespace=SERVICE_NAMESPACE, name=SERVICE_NAME, port=port
                ),
            ),
        )
    )


def wait_available(api: client.ApiClient, deadline: float, check_alive: Callable[[], None]) -> None:
    """Until the aggregator calls the APIService Available (it reached metrics-server), or the deadline."""
    registration = client.ApiregistrationV1Api(api)
    last = "not yet checked"
    while True:
        check_alive()
        status = registration.read_api_service(f"{VERSION}.{GROUP}").status
        conditions = (status.conditions if status else None) or []
        available = next((c for c in conditions if c.type == "Available"), None)
        if available is not None and available.status == "True":
            return
        last = f"{available.reason}: {available.message}" if available else last
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"metrics.k8s.io was not Available in time ({last})")
        time.sleep(0.25)
