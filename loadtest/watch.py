"""`python -m loadtest.watch`: sample the serving deployment's scaling through the Kubernetes API.

Every few seconds it reads the HPA, the Deployment, its pods and the serving node
pool's nodes, appends a row to timeline.csv, and at the end draws timeline.png
(with the load test's own history when the folder has one) and prints the key
moments: when replicas were asked for and became ready, when nodes came and went.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from loadtest.target import DEFAULT_STACK, TargetError, project_defaults, stack_outputs
from loadtest.timeline import (
    LOCUST_HISTORY_CSV,
    TIMELINE_CSV,
    TIMELINE_PNG,
    Sample,
    TimelineWriter,
    format_moments,
    key_moments,
    read_locust_history,
    render_chart,
    timeline_start,
)

DEFAULT_INTERVAL_SECONDS = 5.0
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
# The lab's name of the Deployment and its HPA, used when the stack's outputs are not read (--kubeconfig).
LAB_WORKLOAD = "image-classifier"

log = logging.getLogger("loadtest.watch")


@dataclass(frozen=True)
class WatchTarget:
    namespace: str
    deployment: str
    hpa: str
    node_pool: str


class ClusterSampler:
    """Reads one Sample of the serving objects through the Kubernetes API."""

    def __init__(self, api_client: client.ApiClient, target: WatchTarget, timeout: float) -> None:
        self.target = target
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._timeout = timeout

    def sample(self) -> Sample:
        target, timeout = self.target, self._timeout
        now = time.time()
        hpa = self._autoscaling.read_namespaced_horizontal_pod_autoscaler(
            target.hpa, target.namespace, _request_timeout=timeout
        )
        deployment = self._apps.read_namespaced_deployment(
            target.deployment, target.namespace, _request_timeout=timeout
        )
        selector = ",".join(f"{key}={value}" for key, value in (deployment.spec.selector.match_labels or {}).items())
        pods = self._core.list_namespaced_pod(target.namespace, label_selector=selector, _request_timeout=timeout).items
        nodes = self._core.list_node(
            label_selector=f"{NODE_POOL_LABEL}={target.node_pool}", _request_timeout=timeout
        ).items
        phases = Counter(pod.status.phase if pod.status else "Unknown" for pod in pods)
        reasons = Counter(_pending_reason(pod) for pod in pods if pod.status and pod.status.phase == "Pending")
        hpa_status = hpa.status or client.V2HorizontalPodAutoscalerStatus(desired_replicas=0)
        return Sample(
            time=now,
            hpa_current_replicas=hpa_status.current_replicas or 0,
            hpa_desired_replicas=hpa_status.desired_replicas or 0,
            hpa_cpu_utilization_percent=_cpu_utilization(hpa_status),
            ready_replicas=(deployment.status.ready_replicas if deployment.status else 0) or 0,
            running_pods=phases["Running"],
            pending_pods=phases["Pending"],
            pending_reasons=";".join(f"{reason}:{count}" for reason, count in sorted(reasons.items())),
            nodes=len(nodes),
            ready_nodes=sum(1 for node in nodes if _is_ready(node)),
        )


def _cpu_utilization(status: client.V2HorizontalPodAutoscalerStatus) -> int | None:
    for metric in status.current_metrics or []:
        if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
            return metric.resource.current.average_utilization
    return None


def _pending_reason(pod) -> str:
    """Why a pod is Pending: not scheduled (Unschedulable: no node has room), or a container still waiting."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return condition.reason or "NotScheduled"
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting and status.state.waiting.reason:
            return status.state.waiting.reason
    return "Pending"


def _is_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def watch(
    sampler: ClusterSampler,
    writer: TimelineWriter,
    interval: float,
    stop: threading.Event,
    samples: list[Sample],
    duration: float | None = None,
) -> None:
    """Sample into `samples` until `stop` is set or `duration` has passed; a failed sample is logged and retried."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        started = time.monotonic()
        try:
            sample = sampler.sample()
        except (ApiException, HTTPError, OSError) as error:
            log.warning("sampling the cluster failed (%s); trying again in %.0f s", _short(error), interval)
        else:
            writer.write(sample)
            samples.append(sample)
            log.info(
                "replicas desired %d, ready %d, pending %d%s; nodes %d; cpu %s%%",
                sample.hpa_desired_replicas, sample.ready_replicas, sample.pending_pods,
                f" ({sample.pending_reasons})" if sample.pending_reasons else "", sample.nodes,
                "?" if sample.hpa_cpu_utilization_percent is None else sample.hpa_cpu_utilization_percent,
            )  # fmt: skip
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _short(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return str(error).splitlines()[0][:200]


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster to watch (default: the stack's kubeconfig and object names)")
    group.add_argument(
        "--kubeconfig",
        nargs="?",
        const="",
        metavar="PATH",
        help="use this kubeconfig instead of the stack's; without PATH, $KUBECONFIG or ~/.kube/config",
    )
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: its current one)")
    group.add_argument(
        "--namespace", help="namespace of the serving objects (default: the stack's, or Pulumi.yaml's default)"
    )
    group.add_argument("--deployment", help=f"Deployment name (default: the stack's, or {LAB_WORKLOAD})")
    group.add_argument("--hpa", help=f"HorizontalPodAutoscaler name (default: the stack's, or {LAB_WORKLOAD})")
    group.add_argument("--node-pool", help="GKE node pool name (default: the stack's, or Pulumi.yaml's default)")


def sampler_from_args(args: argparse.Namespace, timeout: float) -> ClusterSampler:
    """Connect to the cluster the arguments name: a kubeconfig file, or the stack's exported one."""
    if args.kubeconfig is not None:
        path = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        try:
            api_client = config.new_client_from_config(config_file=path, context=args.context)
        except (config.ConfigException, OSError) as error:
            raise TargetError(f"Cannot load the kubeconfig {path or '~/.kube/config'}: {error}") from error
        defaults = project_defaults()
        names = {"namespace": defaults["namespace"], "deploymentName": LAB_WORKLOAD, "hpaName": LAB_WORKLOAD,
                 "nodePoolName": defaults["nodePoolName"]}  # fmt: skip
    else:
        names = stack_outputs(args.stack, show_secrets=True, instead="--kubeconfig [PATH]")
        if "kubeconfig" not in names:
            raise TargetError(f"Stack {args.stack} has no kubeconfig output yet; run `pulumi up` or pass --kubeconfig.")
        api_client = config.new_client_from_config_dict(json.loads(names["kubeconfig"]), context=args.context)
    target = WatchTarget(
        namespace=args.namespace or names["namespace"],
        deployment=args.deployment or names["deploymentName"],
        hpa=args.hpa or names["hpaName"],
        node_pool=args.node_pool or names["nodePoolName"],
    )
    return ClusterSampler(api_client, target, timeout)


def report(samples: list[Sample], report_dir: Path) -> None:
    """Draw the chart and print the key moments of what was sampled."""
    if not samples:
        print("No sample of the cluster was taken; nothing to chart.")
        return
    load = read_locust_history(report_dir / LOCUST_HISTORY_CSV)
    render_chart(samples, load, report_dir / TIMELINE_PNG)
    start = timeline_start(samples, load)
    print(f"\nKey moments (seconds since start):\n{format_moments(key_moments(samples), start)}")
    print(f"Timeline: {report_dir / TIMELINE_CSV}, chart: {report_dir / TIMELINE_PNG}")


class Watcher:
    """Samples in a background thread while the caller waits or runs something else (the load test)."""

    def __init__(
        self, sampler: ClusterSampler, report_dir: Path, interval: float, duration: float | None = None
    ) -> None:
        self.report_dir = report_dir
        self._writer = TimelineWriter(report_dir / TIMELINE_CSV)
        self._stop = threading.Event()
        # An Event, not Thread.join: a join cut short by Ctrl+C can report a live thread as finished.
        self._done = threading.Event()
        self._samples: list[Sample] = []

        def run() -> None:
            try:
                watch(sampler, self._writer, interval, self._stop, self._samples, duration)
            finally:
                self._done.set()

        self._thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the duration has passed; Ctrl+C ends it early, with what was sampled kept."""
        try:
            while not self._done.wait(timeout=0.5):
                pass
        except KeyboardInterrupt:
            log.info("stopping on Ctrl+C")

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._done.wait()
        self._writer.close()
        report(self._samples, self.report_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.watch",
        description="Sample the serving deployment's scaling into timeline.csv and timeline.png.",
    )
    parser.add_argument("--stack", default=DEFAULT_STACK, help="Pulumi stack to watch (default: %(default)s)")
    add_watch_arguments(parser)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_SECONDS, metavar="SECONDS",
                        help="time between samples (default: %(default)s)")  # fmt: skip
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    parser.add_argument("--report-dir", type=Path, required=True, metavar="DIR",
                        help="folder for timeline.csv and .png; a load test's folder adds its load")  # fmt: skip
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        sampler = sampler_from_args(args, timeout=args.interval)
    except TargetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.report_dir.mkdir(parents=True, exist_ok=True)
    with Watcher(sampler, args.report_dir, args.interval, args.duration) as watcher:
        watcher.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
