"""`python -m loadtest --in-cluster`: the same load test, run by Locust's master and workers on the cluster.

A run makes a namespace of its own (restricted Pod Security Standard) in which:
- a ConfigMap carries this package's locustfile and the modules it imports, and the
  request's image, so the official `locustio/locust` image needs no build;
- a master Pod runs the test headless and, when it ends, prints each report file,
  base64-encoded between markers, to its log, which this process streams: progress to
  the terminal, reports into the local report folder;
- a Deployment of workers, on the stack's tainted load-generator pool, connects to it
  through a Service.
The namespace, and everything in it, is deleted at the end, on failure and on Ctrl+C.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import shlex
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, utils, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

PACKAGE_DIR = Path(__file__).resolve().parent
# What the locustfile imports from this package; nothing else is shipped.
SHIPPED_MODULES = ("__init__.py", "locustfile.py", "model_api.py", "options.py", "shape.py", "steps.py", "verdict.py")
MASTER = "locust-master"
WORKERS = "locust-workers"
PACKAGE_CONFIG_MAP = "loadtest-package"
MASTER_PORT = 5557
PACKAGE_ROOT = "/opt/loadtest"
DATA_DIR = "/opt/loadtest-data"
REPORTS_DIR = "/reports"
REPORT_MARK = "=== REPORT "
END_MARK = "=== END "
VERDICT_FILE = "verdict"
RUN_AS = 10001
# A Locust process is one gevent loop: it uses one core at most.
WORKER_RESOURCES = {"requests": {"cpu": "700m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
MASTER_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
# What the Locust master logs when a worker stops sending heartbeats (locust/runners.py).
LOST_WORKER = re.compile(r"Worker (?P<worker>\S+) failed to send heartbeat, setting state to missing")


class InClusterError(RuntimeError):
    """The in-cluster run could not start or went wrong; the message says what and how to fix it."""


def locust_image() -> str:
    """The official image at the Locust version requirements.txt names, so master and workers run what was tested."""
    requirements = (PACKAGE_DIR.parent / "requirements.txt").read_text()
    match = re.search(r"^locust\s*(?:==|>=)\s*([0-9.]+)", requirements, re.MULTILINE)
    if not match:
        raise InClusterError("requirements.txt names no Locust version to pin the locustio/locust image to.")
    return f"locustio/locust:{match[1]}"


@dataclass(frozen=True)
class LoadGenerator:
    """What the stack exports for the in-cluster run (its loadGenerator output)."""

    node_pool: str
    taint_key: str
    taint_value: str
    rest_url: str


def namespace_name(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now()
    return f"loadtest-{now:%Y%m%d-%H%M%S}"


def _labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "locust",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "tfserving-gke",
        "app.kubernetes.io/managed-by": "loadtest",
    }


def _pod_spec(generator: LoadGenerator, command: list[str], resources: dict, reports: bool) -> dict:
    mounts = [
        {"name": "package", "mountPath": f"{PACKAGE_ROOT}/loadtest", "readOnly": True},
        {"name": "data", "mountPath": DATA_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes = [
        {"name": "package", "configMap": {"name": PACKAGE_CONFIG_MAP, "items": [
            {"key": module, "path": module} for module in SHIPPED_MODULES]}},
        {"name": "data", "configMap": {"name": PACKAGE_CONFIG_MAP, "items": [{"key": "image", "path": "image"}]}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]  # fmt: skip
    if reports:
        mounts.append({"name": "reports", "mountPath": REPORTS_DIR})
        volumes.append({"name": "reports", "emptyDir": {"sizeLimit": "256Mi"}})
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **_placement(generator),
        "containers": [
            {
                "name": "locust",
                "image": locust_image(),
                "command": command,
                "env": [
                    {"name": "PYTHONPATH", "value": PACKAGE_ROOT},
                    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                    {"name": "HOME", "value": "/tmp"},
                ],
                "ports": [{"name": "master", "containerPort": MASTER_PORT, "protocol": "TCP"}] if reports else [],
                "resources": resources,
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }


# Kubernetes refuses a ConfigMap whose data pass 1 MiB (its ConfigMap docs); the image shares it with the package.
CONFIG_MAP_LIMIT_BYTES = 1024 * 1024


def _package() -> dict[str, str]:
    return {module: (PACKAGE_DIR / module).read_text() for module in SHIPPED_MODULES}


def check_image_fits(image: bytes) -> None:
    """Refuse, before anything is created, an image the run's ConfigMap could not hold."""
    package = sum(len(text.encode()) for text in _package().values())
    encoded = 4 * ((len(image) + 2) // 3)
    if package + encoded > CONFIG_MAP_LIMIT_BYTES:
        largest = (CONFIG_MAP_LIMIT_BYTES - package) * 3 // 4
        raise InClusterError(
            f"--image is {len(image) // 1024} KiB; an in-cluster run ships it in a ConfigMap, which Kubernetes "
            f"limits to 1 MiB, so the image may be at most {largest // 1024} KiB: use a smaller one, or load "
            "from this machine (without --in-cluster)."
        )


def manifests(namespace: str, generator: LoadGenerator, workers: int, image: bytes, load_args: list[str]) -> list[dict]:
    """Every object of a run, in creation order. `load_args` are the shape, request and verdict options."""
    locustfile = f"{PACKAGE_ROOT}/loadtest/locustfile.py"
    shared = [*load_args, "--image", f"{DATA_DIR}/image"]
    master_command = [
        "locust", "-f", locustfile, "--master", "--headless", "--only-summary",
        "--expect-workers", str(workers), "--expect-workers-max-wait", "600",
        "--host", generator.rest_url, "--csv", f"{REPORTS_DIR}/locust", "--html", f"{REPORTS_DIR}/report.html",
        "--report-dir", REPORTS_DIR, "--verdict-file", f"{REPORTS_DIR}/{VERDICT_FILE}", *shared,
    ]  # fmt: skip
    # When Locust ends, its report files go into the log, one base64 line each, then its exit status.
    master_script = (
        f"{shlex.join(master_command)}; code=$?; cd {REPORTS_DIR} && "
        f'for f in *; do [ -f "$f" ] || continue; echo "{REPORT_MARK}$f"; base64 -w0 "$f"; echo; done; '
        f'echo "{END_MARK}$code"'
    )
    worker_command = ["locust", "-f", locustfile, "--worker", "--master-host", MASTER, "--master-port",
                      str(MASTER_PORT), *shared]  # fmt: skip
    package = _package()
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    **_labels("namespace"),
                    **{f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PACKAGE_CONFIG_MAP, "namespace": namespace, "labels": _labels("package")},
            "data": package,
            "binaryData": {"image": base64.b64encode(image).decode("ascii")},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": MASTER, "namespace": namespace, "labels": _labels("master")},
            "spec": {
                "selector": _labels("master"),
                "ports": [{"name": "master", "port": MASTER_PORT, "targetPort": MASTER_PORT, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": MASTER, "namespace": namespace, "labels": _labels("master")},
            "spec": {
                "restartPolicy": "Never",
                **_pod_spec(generator, ["/bin/sh", "-c", master_script], MASTER_RESOURCES, reports=True),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": WORKERS, "namespace": namespace, "labels": _labels("worker")},
            "spec": {
                "replicas": workers,
                "selector": {"matchLabels": _labels("worker")},
                "template": {
                    "metadata": {"labels": _labels("worker")},
                    "spec": _pod_spec(generator, worker_command, WORKER_RESOURCES, reports=False),
                },
            },
        },
    ]


@dataclass
class MasterLog:
    """What the master's log said: its exit status, the report files, and the workers it lost."""

    exit_code: int | None = None
    lost_workers: tuple[str, ...] = ()


def read_master_log(lines: Iterable[str], report_dir: Path, echo) -> MasterLog:
    """Echo progress, write the report files into `report_dir`, and note the exit status and lost workers."""
    result = MasterLog()
    lost: list[str] = []
    pending_file: str | None = None
    for line in lines:
        if pending_file is not None:
            try:
                (report_dir / pending_file).write_bytes(base64.b64decode(line.strip(), validate=True))
            except binascii.Error:
                # What base64 printed instead of a file (the file was never written): the master's own words.
                echo(f"report {pending_file} did not come back: {line.strip()[:200]}")
            pending_file = None
        elif line.startswith(REPORT_MARK):
            pending_file = Path(line[len(REPORT_MARK) :].strip()).name
        elif line.startswith(END_MARK):
            result.exit_code = int(line[len(END_MARK) :].strip() or 1)
            break
        else:
            if found := LOST_WORKER.search(line):
                lost.append(found["worker"])
            echo(line)
    result.lost_workers = tuple(lost)
    return result


class InClusterRun:
    """Creates a run's objects, waits for its pods, follows the master, and deletes everything at the end."""

    def __init__(self, api_client: client.ApiClient, namespace: str, pending_timeout: float) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self._pending_timeout = pending_timeout
        # Only a namespace this run made is deleted: one it could not create is not the user's to clean up.
        self.namespace_created = False

    def create(self, objects: list[dict]) -> None:
        for manifest in objects:
            try:
                utils.create_from_dict(self._api_client, manifest, namespace=self.namespace)
            except (ApiException, utils.FailToCreateError) as error:
                raise InClusterError(
                    f"Cannot create {manifest['kind']} {manifest['metadata']['name']} in the cluster: "
                    f"{_api_problem(error)}"
                ) from error
            if manifest["kind"] == "Namespace":
                self.namespace_created = True

    def wait_for_pods(self, workers: int, echo) -> None:
        """Until the master and every worker run; Pending past the timeout is an error that says why."""
        deadline = time.monotonic() + self._pending_timeout
        said = ""
        while True:
            try:
                pods = self._core.list_namespaced_pod(self.namespace).items
            except (ApiException, HTTPError, OSError) as error:
                raise InClusterError(f"Cannot list the run's pods: {_api_problem(error)}") from error
            master = next((pod for pod in pods if pod.metadata and pod.metadata.name == MASTER), None)
            failure = _failure(master) if master is not None else None
            if failure:
                raise InClusterError(f"Locust's master failed: {failure}.{self._last_log_lines()}")
            running = [pod for pod in pods if pod.status and pod.status.phase in ("Running", "Succeeded")]
            if len(running) >= workers + 1:
                return
            waiting = [pod for pod in pods if not pod.status or pod.status.phase == "Pending"]
            status = f"{len(running)} of {workers + 1} Locust pods running"
            if status != said:
                echo(f"{status}; waiting (the load-generator pool starts from 0 nodes: a node takes 1-2 minutes)")
                said = status
            if time.monotonic() > deadline:
                reasons = sorted({self._why_pending(pod) for pod in waiting}) or ["pods were not created"]
                raise InClusterError(
                    f"{len(waiting)} Locust pod(s) still Pending after {self._pending_timeout:.0f} s: "
                    f"{'; '.join(reasons)}. Check the load-generator pool's size (loadGeneratorNodes), the "
                    "project's CPU quota, or ask for fewer --workers."
                )
            time.sleep(2)

    def _last_log_lines(self) -> str:
        """The master's last words, where the API has any (none for an image that was never pulled)."""
        try:
            text = self._core.read_namespaced_pod_log(MASTER, self.namespace, tail_lines=LOG_TAIL_LINES)
        except (ApiException, HTTPError, OSError):
            return ""
        lines = [line for line in str(text).splitlines() if line.strip()][-LOG_TAIL_LINES:]
        return "\nIts last log lines:\n" + "\n".join(lines) if lines else ""

    def _why_pending(self, pod) -> str:
        message = ""
        conditions = (pod.status.conditions or []) if pod.status else []
        for condition in conditions:
            if condition.type == "PodScheduled" and condition.status == "False":
                message = f"{condition.reason}: {condition.message}"
        events = self._core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={pod.metadata.name}"
        ).items
        latest = [event.message for event in events if event.message]
        return "; ".join(part for part in (message, latest[-1] if latest else "") if part) or "no reason given yet"

    def master_log(self) -> Iterator[str]:
        """The master's log as it is written; a log the API cannot serve, or a stream that breaks, is an error."""
        lines = watch.Watch().stream(
            self._core.read_namespaced_pod_log, name=MASTER, namespace=self.namespace, follow=True
        )
        try:
            for line in lines:
                yield str(line)
        except (ApiException, HTTPError, OSError) as error:
            raise InClusterError(
                f"Cannot follow the Locust master's log ({_api_problem(error)}), so its reports cannot come back"
            ) from error

    def delete(self) -> None:
        if not self.namespace_created:
            return
        try:
            self._core.delete_namespace(self.namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise InClusterError(
                    f"Cannot delete namespace {self.namespace} ({_api_problem(error)}); delete it with "
                    f"`kubectl delete namespace {self.namespace}`."
                ) from error


# Container states a pod does not recover from by waiting: the run stops at once and says which.
FATAL_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                         "CreateContainerConfigError", "CreateContainerError", "RunContainerError")  # fmt: skip
LOG_TAIL_LINES = 10


def _failure(pod) -> str | None:
    """Why this pod will not run Locust (failed, or stuck on an image or a crash), or None while it may."""
    status = pod.status
    if status is None:
        return None
    if status.phase == "Failed":
        detail = ": ".join(part for part in (status.reason, status.message) if part) or "no reason given"
        return f"the pod failed ({detail})"
    for container in status.container_statuses or []:
        waiting = container.state.waiting if container.state else None
        if waiting and waiting.reason in FATAL_WAITING_REASONS:
            return f"{waiting.reason}: {waiting.message or 'no message'}"
        terminated = container.state.terminated if container.state else None
        if terminated and terminated.exit_code:
            return f"Locust exited with status {terminated.exit_code} ({terminated.reason or 'no reason'})"
    return None


def _api_problem(error: Exception) -> str:
    """The status, and the API server's own message where its answer carries one (a Status object)."""
    if isinstance(error, utils.FailToCreateError) and error.api_exceptions:
        error = error.api_exceptions[0]
    if isinstance(error, ApiException):
        try:
            detail = str(json.loads(error.body or "{}").get("message", ""))
        except (ValueError, AttributeError):
            detail = ""
        return f"HTTP {error.status} {error.reason}" + (f": {detail[:200]}" if detail else "")
    return str(error).splitlines()[0][:200]


def _placement(generator: LoadGenerator) -> dict:
    """On the stack's tainted load-generator pool; anywhere on a cluster without one (empty node pool)."""
    if not generator.node_pool:
        return {}
    return {
        "nodeSelector": {"cloud.google.com/gke-nodepool": generator.node_pool},
        "tolerations": [
            {"key": generator.taint_key, "operator": "Equal", "value": generator.taint_value, "effect": "NoSchedule"}
        ],
    }
