"""A loopback server that answers the few Kubernetes API paths the watcher reads.

It plays a script of cluster states, one per sample: each read of the HPA (the first
read of a sample) moves to the next state, and the last state holds. A state with
"error" answers that HPA read with HTTP 500, as an API server under strain may.
Responses are shaped like the real API's. A state may also play a hostile API for every
path: "status" answers that HTTP status, "garbage" a 200 whose body is not JSON, "hang"
never answers, "drip" answers the HPA read a byte at a time (minutes for the whole).

With a second file it also plays the cluster side of an in-cluster load test (incluster_double.py).
GET /_created, /_deleted, /_predictions, /_log_follows and /_manifest_reads list what it recorded. Run it as
its own process:

    python -m tests.loadtest.kube_api_double SCRIPT.json [IN_CLUSTER.json]   (prints its URL)
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlparse

from tests.loadtest import incluster_double
from tests.loadtest.incluster_double import Cluster, status_failure
from tests.loopback import JsonHandler, serve

NAMESPACE = "tfserving"  # the project's default namespace (Pulumi.yaml), which the watcher assumes
NAME = "image-classifier"
NODE_POOL = "serving-pool"
HPA_PATH = f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers/{NAME}"
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}"
PODS_PATH = f"/api/v1/namespaces/{NAMESPACE}/pods"
NODES_PATH = "/api/v1/nodes"
POD_METRICS_PATH = re.compile(
    rf"^/api/v1/namespaces/{NAMESPACE}/pods/(?P<pod>[^/:]+):8501/proxy/monitoring/prometheus/metrics$"
)
POD_SELECTOR = f"app={NAME}"
NODE_SELECTOR = f"cloud.google.com/gke-nodepool={NODE_POOL}"


def hpa(state: dict) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
                }
            ],
        },
        "status": {
            "currentReplicas": state["current"],
            "desiredReplicas": state["desired"],
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": state["cpu"]}}}
            ],
        },
    }


def deployment(state: dict) -> dict:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "tf-serving", "image": "tensorflow/serving:2.8.0"}]},
            },
        },
        "status": {"replicas": state["current"], "readyReplicas": state["ready"]},
    }


def pod(index: int, phase: str, reason: str | None) -> dict:
    status: dict = {"phase": phase}
    if phase == "Running":
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    if reason == "Unschedulable":
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ]
    elif reason:
        status["containerStatuses"] = [
            {
                "name": "tf-serving",
                "image": "tensorflow/serving:2.8.0",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": reason}},
            }
        ]
    return {
        "metadata": {"name": f"{NAME}-7d9c-{index}", "namespace": NAMESPACE, "labels": {"app": NAME}},
        "spec": {"containers": [{"name": "tf-serving", "image": "tensorflow/serving:2.8.0"}]},
        "status": status,
    }


def node(index: int) -> dict:
    return {
        "metadata": {
            "name": f"gke-cluster-1-{NODE_POOL}-{index}",
            "labels": {"cloud.google.com/gke-nodepool": NODE_POOL},
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


class _Handler(JsonHandler):
    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if proxied := incluster_double.SERVICE_PROXY.match(unquote(urlparse(self.path).path)):
            self.answer(*incluster_double.predict(proxied["path"], payload))
            return
        body = json.loads(payload)
        if body.get("kind") == "Namespace" and Cluster.behaviour.get("no_namespaces"):
            self.answer(403, status_failure(403, "Forbidden", "namespaces is forbidden: cannot create"))
            return
        Cluster.created.append(body)
        self.answer(201, body)

    def do_DELETE(self) -> None:
        if Cluster.behaviour.get("no_namespaces"):
            self.answer(403, status_failure(403, "Forbidden", "namespaces is forbidden: cannot delete"))
            return
        match = incluster_double.RUN_PATH.match(urlparse(self.path).path)
        Cluster.deleted.append(match["namespace"] if match else self.path)
        self.answer(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    def in_cluster_get(self, path: str) -> bool:
        """Answer a GET of the in-cluster run; False when the path is not one."""
        recorded = {
            "/_created": Cluster.created,
            "/_deleted": Cluster.deleted,
            "/_predictions": Cluster.predictions,
            "/_log_follows": Cluster.log_follows,
            "/_manifest_reads": Cluster.manifest_reads,
        }
        if path in recorded:
            self.answer(200, recorded[path])
            return True
        if incluster_double.RUN_LOG.match(path):
            incluster_double.stream_log(self)
            return True
        if report := incluster_double.REPORTS.match(unquote(path)):
            self.answer(*incluster_double.report(report["name"]))
            return True
        match = incluster_double.RUN_PATH.match(path)
        if not match or not (match["namespace"] or "").startswith("loadtest-"):
            return False
        if match["kind"] == "pods" and Cluster.behaviour.get("pods_status"):
            code = Cluster.behaviour["pods_status"]
            self.answer(code, status_failure(code, "InternalError", "etcdserver: leader changed"))
        elif match["kind"] == "pods":
            pods = incluster_double.run_pods(match["namespace"])
            self.answer(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods})
        elif match["kind"] == "events":
            message = Cluster.behaviour.get("event", "")
            items = [{"metadata": {"name": "e1"}, "involvedObject": {}, "message": message}] if message else []
            self.answer(200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items})
        else:
            self.answer(404, status_failure(404, "NotFound", path))
        return True

    def metrics(self, state: dict) -> None:
        if state.get("metrics_status"):
            self.answer(state["metrics_status"], status_failure(state["metrics_status"], "Forbidden", "pods/proxy"))
            return
        payload = tf_serving_metrics(state.get("served", 0)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    script: list[dict]
    position: ClassVar[list[int]] = [-1]  # index of the state being served, shared by the handler's threads
    lock = threading.Lock()

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self.in_cluster_get(url.path):
            return
        selector = parse_qs(url.query).get("labelSelector", [""])[0]
        with self.lock:
            if url.path == HPA_PATH:
                self.position[0] = min(self.position[0] + 1, len(self.script) - 1)
            state = self.script[max(self.position[0], 0)]
        if state.get("hang"):
            time.sleep(3600)
        elif state.get("drip"):
            self.drip(hpa(state))
        elif state.get("garbage"):
            self.answer(200, b"<html>gateway</html>")
        elif state.get("status"):
            code = state["status"]
            self.answer(code, status_failure(code, "Forbidden" if code == 403 else "Unauthorized", "denied"))
        elif url.path == HPA_PATH:
            if state.get("error"):
                self.answer(500, status_failure(500, "InternalError", "etcdserver: request timed out"))
            else:
                self.answer(200, hpa(state))
        elif url.path == DEPLOYMENT_PATH:
            self.answer(200, deployment(state))
        elif url.path == PODS_PATH:
            pods = [pod(i, phase, reason) for i, (phase, reason) in enumerate(state["pods"])]
            self.answer(
                200,
                {
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": pods if selector == POD_SELECTOR else [],
                },
            )
        elif POD_METRICS_PATH.match(unquote(url.path)):
            self.metrics(state)
        elif url.path == NODES_PATH:
            nodes = [node(i) for i in range(state["nodes"])]
            self.answer(
                200,
                {
                    "kind": "NodeList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": nodes if selector == NODE_SELECTOR else [],
                },
            )
        else:
            self.answer(404, status_failure(404, "NotFound", f"{url.path} not found"))


def tf_serving_metrics(served: int) -> str:
    """TF Serving's Prometheus text for a pod that served `served` requests, each within 50-100 ms."""
    lines = [
        "# TYPE :tensorflow:serving:request_count counter",
        f':tensorflow:serving:request_count{{model_name="image_classifier",status="OK"}} {served}',
        f':tensorflow:serving:request_count{{model_name="other_model",status="OK"}} {served * 7}',
        "# TYPE :tensorflow:serving:request_latency histogram",
    ]
    for bound, count in (("50000", 0), ("100000", served), ("+Inf", served)):
        lines.append(
            f':tensorflow:serving:request_latency_bucket{{model_name="image_classifier",API="predict",'
            f'entrypoint="REST",le="{bound}"}} {count}'
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    with open(sys.argv[1]) as file:
        script = json.load(file)
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as file:
            Cluster.behaviour = json.load(file)
    serve(type("Handler", (_Handler,), {"script": script}))


if __name__ == "__main__":
    main()
