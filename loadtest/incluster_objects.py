"""The objects of an in-cluster load test (`python -m loadtest --in-cluster`), in creation order.

A run makes a namespace of its own (restricted Pod Security Standard) in which:
- a ConfigMap carries this package's locustfile and the modules it imports, and the
  request's image, so the official `locustio/locust` image needs no build;
- a master Pod runs the test headless, then serves its report folder for a while
  (report_server.py), which the user's machine reads through the API server;
- a Deployment of workers, on the stack's tainted load-generator pool, connects to it
  through a Service.
"""

from __future__ import annotations

import base64
import datetime
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from loadtest.incluster_policies import network_policies
from loadtest.sampler import NODE_POOL_LABEL

PACKAGE_DIR = Path(__file__).resolve().parent
# What the locustfile imports from this package; nothing else is shipped.
SHIPPED_MODULES = ("__init__.py", "locustfile.py", "model_api.py", "options.py", "report_server.py", "shape.py",
                   "steps.py", "verdict.py")  # fmt: skip
MASTER = "locust-master"
WORKERS = "locust-workers"
PACKAGE_CONFIG_MAP = "loadtest-package"
MASTER_PORT = 5557
PACKAGE_ROOT = "/opt/loadtest"
DATA_DIR = "/opt/loadtest-data"
REPORTS_DIR = "/reports"
VERDICT_FILE = "verdict"
REPORT_PORT = 8089
# How long the master waits for its workers to connect once it runs.
WORKERS_WAIT_SECONDS = 600
# How long the master serves its reports after the load: the user's machine fetches them in seconds, but may
# have been away (a laptop asleep); the namespace is deleted as soon as they are back.
REPORT_LINGER_SECONDS = 900
RUN_AS = 10001
# A Locust process is one gevent loop: it uses one core at most.
# Disk: /tmp (256Mi) and Locust's logs; the master also its reports folder (256Mi).
WORKER_RESOURCES = {
    "requests": {"cpu": "700m", "memory": "512Mi", "ephemeral-storage": "256Mi"},
    "limits": {"memory": "1Gi", "ephemeral-storage": "512Mi"},
}
MASTER_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "512Mi"},
    "limits": {"memory": "1Gi", "ephemeral-storage": "1Gi"},
}


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
    # The Service the pods load, which the preflight reaches through the API server's proxy.
    service: str
    namespace: str
    port: int


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
        {
            "name": "package",
            "configMap": {
                "name": PACKAGE_CONFIG_MAP,
                "items": [{"key": module, "path": module} for module in SHIPPED_MODULES],
            },
        },
        {"name": "data", "configMap": {"name": PACKAGE_CONFIG_MAP, "items": [{"key": "image", "path": "image"}]}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
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
                "ports": [
                    {"name": "master", "containerPort": MASTER_PORT, "protocol": "TCP"},
                    {"name": "reports", "containerPort": REPORT_PORT, "protocol": "TCP"},
                ]
                if reports
                else [],
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
        "locust",
        "-f",
        locustfile,
        "--master",
        "--headless",
        "--only-summary",
        "--expect-workers",
        str(workers),
        "--expect-workers-max-wait",
        str(WORKERS_WAIT_SECONDS),
        "--host",
        generator.rest_url,
        "--csv",
        f"{REPORTS_DIR}/locust",
        "--html",
        f"{REPORTS_DIR}/report.html",
        "--report-dir",
        REPORTS_DIR,
        "--verdict-file",
        f"{REPORTS_DIR}/{VERDICT_FILE}",
        *shared,
    ]
    # When Locust ends, the report folder is served (its exit status in the manifest), for a bounded time.
    serve_reports = [
        "python",
        "-m",
        "loadtest.report_server",
        "--dir",
        REPORTS_DIR,
        "--port",
        str(REPORT_PORT),
        "--linger",
        str(REPORT_LINGER_SECONDS),
    ]
    master_script = f'{shlex.join(master_command)}; {shlex.join(serve_reports)} --exit-code "$?"'
    worker_command = [
        "locust",
        "-f",
        locustfile,
        "--worker",
        "--master-host",
        MASTER,
        "--master-port",
        str(MASTER_PORT),
        *shared,
    ]
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
        *network_policies(
            namespace,
            {role: _labels(role) for role in ("master", "worker")},
            MASTER_PORT,
            generator.namespace,
            generator.port,
        ),
    ]


def _placement(generator: LoadGenerator) -> dict:
    """On the stack's tainted load-generator pool; anywhere on a cluster without one (empty node pool)."""
    if not generator.node_pool:
        return {}
    return {
        "nodeSelector": {NODE_POOL_LABEL: generator.node_pool},
        "tolerations": [
            {"key": generator.taint_key, "operator": "Equal", "value": generator.taint_value, "effect": "NoSchedule"}
        ],
    }
