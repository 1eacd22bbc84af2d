"""A metrics.k8s.io server of our own, behind the API server's aggregation layer, for the HPA to read.

metrics-server would scrape kubelets; kwok's pods use no CPU, so the rehearsal says what each pod uses (a
function of the load schedule) and this server answers the HPA's one question with it: the pods of a label
selector and their CPU. It listens with a throw-away self-signed certificate on 127.0.0.1; the APIService
points at it through an ExternalName Service, as kwokctl wires its metrics-server.
"""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from kubernetes import client

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
PREFIX = f"/apis/{GROUP}/{VERSION}"
SERVICE_NAMESPACE, SERVICE_NAME = "kube-system", "local-metrics"
# The window metrics-server reports for a kubelet's CPU rate (its --metric-resolution, as kwokctl runs it).
WINDOW = "15s"
RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    ],
}

# CPU cores each of these Running pods uses now, by pod name; a pod left out uses none.
Usage = Callable[[list[client.V1Pod]], dict[str, float]]


def _pod_metrics(pod: client.V1Pod, cores: float, now: str) -> dict:
    meta = pod.metadata
    assert meta is not None and pod.spec is not None
    return {
        "metadata": {"name": meta.name, "namespace": meta.namespace, "labels": meta.labels or {}},
        "timestamp": now,
        "window": WINDOW,
        "containers": [
            {
                "name": container.name,
                "usage": {"cpu": f"{round(cores * 1000 / len(pod.spec.containers))}m", "memory": "0"},
            }
            for container in pod.spec.containers
        ],
    }


class MetricsServer:
    """Serves PodMetrics of Running pods from `usage`; start() also registers the APIService."""

    def __init__(self, api: client.ApiClient, usage: Usage, folder: Path) -> None:
        self._core = client.CoreV1Api(api)
        self._api = api
        self._usage = usage
        self._folder = folder
        self._server: ThreadingHTTPServer | None = None

    def pod_metrics(self, namespace: str, selector: str) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        pods = self._core.list_namespaced_pod(namespace, label_selector=selector).items
        running = [pod for pod in pods if pod.status and pod.status.phase == "Running"]
        cores = self._usage(running)
        names = [(pod.metadata.name if pod.metadata else None) or "" for pod in running]
        return {
            "kind": "PodMetricsList",
            "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {},
            "items": [_pod_metrics(pod, cores.get(name, 0.0), now) for pod, name in zip(running, names, strict=True)],
        }

    def start(self) -> int:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # the API server polls often: quiet
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = url.path.rstrip("/").split("/")
                if url.path.rstrip("/") == PREFIX:
                    body: dict | None = RESOURCES
                elif url.path.startswith(f"{PREFIX}/namespaces/") and len(parts) == 7 and parts[6] == "pods":
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    body = owner.pod_metrics(parts[5], selector)
                else:
                    body = None
                payload = json.dumps(body or {"kind": "Status", "status": "Failure", "code": 404}).encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = self._tls().wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        self._register(port)
        return port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _tls(self) -> ssl.SSLContext:
        cert, key = self._folder / "metrics.crt", self._folder / "metrics.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    def _register(self, port: int) -> None:
        """The Service the aggregator resolves (ExternalName 127.0.0.1) and the APIService that routes to it."""
        self._core.create_namespaced_service(
            SERVICE_NAMESPACE,
            client.V1Service(
                metadata=client.V1ObjectMeta(name=SERVICE_NAME),
                spec=client.V1ServiceSpec(
                    type="ExternalName", external_name="127.0.0.1", ports=[client.V1ServicePort(port=port)]
                ),
            ),
        )
        client.ApiregistrationV1Api(self._api).create_api_service(
            client.V1APIService(
                metadata=client.V1ObjectMeta(name=f"{VERSION}.{GROUP}"),
                spec=client.V1APIServiceSpec(
                    group=GROUP,
                    version=VERSION,
                    service=client.ApiregistrationV1ServiceReference(
                        namespace=SERVICE_NAMESPACE, name=SERVICE_NAME, port=port
                    ),
                    # Our own throw-away certificate on loopback: nothing to verify it against.
                    insecure_skip_tls_verify=True,
                    group_priority_minimum=100,
                    version_priority=100,
                ),
            )
        )
