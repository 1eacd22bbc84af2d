"""The cluster side of an in-cluster load test, for kube_api_double: what a run creates and deletes, its pods,
the master's log, the reports its report server serves through the pod proxy, and the Service proxy.

Behaviour keys (a JSON file): "reports" {name: text} and "exit_code" as the master serves them;
"large_report" adds a report of that many bytes (past a kubelet's 10 MiB log rotation); "damaged" serves one
file cut short; "reports_after" answers the manifest 503 that many times (the load still running); "no_reports"
never serves them and "master_phase" ends the master so; "log_cut" ends the log before the reports are announced,
as a rotation may; "hang" sends one log line and hangs; "lost_worker" logs one; "no_namespaces" refuses to
create or delete namespaces (403); "pods_status" answers the pod list with that status; "master_waiting"
([reason, message]) keeps the master waiting so; "workers_phase" and "event" for Pending workers;
"tf_serving" is where the Service proxy forwards predictions, "service_status" answers them instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from typing import ClassVar

from loadtest.report_server import MANIFEST, READY_MARK

RUN_PATH = re.compile(r"^/(?:api/v1|apis/apps/v1)/namespaces(?:/(?P<namespace>[^/]+)(?:/(?P<kind>[a-z]+))?)?$")
RUN_LOG = re.compile(r"^/api/v1/namespaces/(?P<namespace>loadtest-[^/]+)/pods/locust-master/log$")
REPORTS = re.compile(r"^/api/v1/namespaces/loadtest-[^/]+/pods/locust-master:8089/proxy/(?P<name>[^/]+)$")
SERVICE_PROXY = re.compile(
    r"^/api/v1/namespaces/(?P<namespace>[^/]+)/services/(?P<service>[^/:]+):(?P<port>\d+)"
    r"/proxy(?P<path>/.*)$"
)
LARGE_REPORT = "locust_stats_history.csv"


class Cluster:
    """What was created and deleted, and how the run's pods, master and Service behave."""

    behaviour: ClassVar[dict] = {}
    created: ClassVar[list[dict]] = []
    deleted: ClassVar[list[str]] = []
    predictions: ClassVar[list[str]] = []
    log_follows: ClassVar[list[str]] = []
    manifest_reads: ClassVar[list[int]] = [0]
    lock = threading.Lock()


def status_failure(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def run_pods(namespace: str) -> list[dict]:
    behaviour = Cluster.behaviour
    workers = sum(o["spec"]["replicas"] for o in Cluster.created if o["kind"] == "Deployment")
    master_status: dict = {"phase": "Running"}
    if behaviour.get("master_waiting"):
        reason, message = behaviour["master_waiting"]
        master_status = {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "locust",
                    "ready": False,
                    "restartCount": 0,
                    "image": "locustio/locust",
                    "imageID": "",
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ],
        }
    elif behaviour.get("master_phase") and Cluster.manifest_reads[0] > 0:
        master_status = {"phase": behaviour["master_phase"]}
    pods = [{"metadata": {"name": "locust-master", "namespace": namespace}, "status": master_status}]
    for index in range(workers):
        status: dict = {"phase": behaviour.get("workers_phase", "Running")}
        if status["phase"] == "Pending":
            message = "0/2 nodes are available: 2 node(s) had untolerated taint."
            status["conditions"] = [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
            ]
        pods.append({"metadata": {"name": f"locust-workers-{index}", "namespace": namespace}, "status": status})
    return pods


def master_log() -> list[str]:
    behaviour = Cluster.behaviour
    lines = [
        "[2026-11-28 10:00:00,000] master/INFO/locust.main: Starting Locust 2.47.0",
        "[2026-11-28 10:00:02,000] master/INFO/loadtest: step 1/1 done: 4 users, 40 requests",
    ]
    if behaviour.get("lost_worker"):
        lines.append(
            "[2026-11-28 10:00:03,000] master/INFO/locust.runners: Worker locust-workers-1_abc "
            "failed to send heartbeat, setting state to missing."
        )
    if behaviour.get("log_cut") or behaviour.get("no_reports"):
        return lines
    return [*lines, f"{READY_MARK} on port 8089 for 900 s"]


def report_files() -> dict[str, bytes]:
    files = {name: text.encode() for name, text in Cluster.behaviour.get("reports", {}).items()}
    if Cluster.behaviour.get("large_report"):
        row = b"1764324000,4,8.0,0.0,60,90\n"
        files[LARGE_REPORT] = row * (Cluster.behaviour["large_report"] // len(row) + 1)
    return files


def report(name: str) -> tuple[int, bytes | dict]:
    """The master's report server through the pod proxy: 503 while nothing listens, then the files."""
    with Cluster.lock:
        Cluster.manifest_reads[0] += name == MANIFEST
        reads = Cluster.manifest_reads[0]
    if Cluster.behaviour.get("no_reports") or reads <= Cluster.behaviour.get("reports_after", 0):
        return 503, status_failure(503, "ServiceUnavailable", "error trying to reach service: connection refused")
    files = report_files()
    if name == MANIFEST:
        listed = {
            file: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for file, data in files.items()
        }
        return 200, json.dumps({"exitCode": Cluster.behaviour.get("exit_code", 0), "files": listed}).encode()
    if name not in files:
        return 404, b"File not found"
    if Cluster.behaviour.get("damaged") == name:
        return 200, files[name][: len(files[name]) // 2]
    return 200, files[name]


def predict(path: str, body: bytes) -> tuple[int, bytes | dict]:
    """The Service proxy: forward to the TF Serving double, as the API server forwards to a serving pod."""
    behaviour = Cluster.behaviour
    Cluster.predictions.append(path)
    if behaviour.get("service_status"):
        code = behaviour["service_status"]
        return code, status_failure(code, "ServiceUnavailable", 'no endpoints available for service "image-classifier"')
    request = urllib.request.Request(
        behaviour["tf_serving"] + path, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stream_log(handler) -> None:
    """The master's log, followed: all of it, or one line and then nothing ("hang")."""
    Cluster.log_follows.append(handler.path)
    if Cluster.behaviour.get("hang"):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        handler.wfile.write(master_log()[0].encode() + b"\n")
        handler.wfile.flush()
        time.sleep(3600)
    payload = ("\n".join(master_log()) + "\n").encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
