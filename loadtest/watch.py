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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from loadtest import model_api, server_metrics
from loadtest.deadline import Deadline, DeadlineError, end_process
from loadtest.reports import ReportDirError, check_report_dir, create_report_dir
from loadtest.target import DEFAULT_STACK, TargetError, project_defaults, stack_outputs
from loadtest.timeline import (
    LOCUST_HISTORY_CSV,
    TIMELINE_CSV,
    TIMELINE_PNG,
    FailedSample,
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


# A whole sample (five reads and the pod proxies) may take this many read timeouts before it is given up.
SAMPLE_DEADLINE_READS = 3


class WatchError(RuntimeError):
    """The cluster cannot be watched: the message names the object, the reason and the fix."""


class SampleError(WatchError):
    """One sample failed; the message says what was being read and why, in one line."""


@dataclass(frozen=True)
class WatchTarget:
    namespace: str
    deployment: str
    hpa: str
    node_pool: str
    model_name: str
    # Where the namespace came from, for the hint when an object is not found there.
    namespace_origin: str = "--namespace"


class ClusterSampler:
    """Reads one Sample of the serving objects through the Kubernetes API."""

    def __init__(self, api_client: client.ApiClient, target: WatchTarget, timeout: float) -> None:
        # One attempt per call: a failed sample is reported once and the next one comes at the next interval.
        # The REST client reads `retries` when it is built, so it is built again.
        api_client.configuration.retries = False
        api_client.rest_client = rest.RESTClientObject(api_client.configuration)
        self.target = target
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._timeout = timeout
        # The last reading of each serving pod's metrics; None once the cluster refused them (said once).
        self._readings: dict[str, server_metrics.Reading] | None = {}
        self._deadline: Deadline[Sample] = Deadline(timeout * SAMPLE_DEADLINE_READS)

    def _read(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as error:
            raise SampleError(self._api_problem(what, error)) from error
        except (HTTPError, OSError) as error:
            raise SampleError(f"reading the {what} failed: {_connection_problem(error, self._timeout)}") from error
        except (ValueError, TypeError, AttributeError) as error:
            problem = "the API server's answer was not a Kubernetes object"
            raise SampleError(f"reading the {what} failed: {problem}") from error

    def _api_problem(self, what: str, error: ApiException) -> str:
        target = self.target
        if error.status == 404:
            return (
                f"{what} not found (HTTP 404); pass --namespace (now {target.namespace!r}, from "
                f"{target.namespace_origin}) or --deployment/--hpa with the names the stack uses"
            )
        if error.status == 401:
            return (
                f"the cluster refused the credentials when reading the {what} (HTTP 401); for GKE, install "
                "gke-gcloud-auth-plugin and run `gcloud auth login`, then try again"
            )
        if error.status == 403:
            return (
                f"the credentials may not read the {what} (HTTP 403 Forbidden); the watcher needs get on "
                "horizontalpodautoscalers and deployments and list on pods in the namespace, and list on nodes "
                "(e.g. roles/container.viewer)"
            )
        return f"reading the {what} failed: HTTP {error.status} {error.reason}"

    def sample(self) -> Sample:
        """One sample, or a SampleError once SAMPLE_DEADLINE_READS read timeouts have passed without a whole one.

        Each read has its timeout, but a server that answers byte by byte never lets one expire: only a deadline
        for the whole sample bounds it. A sample given up is left to finish on its own; no other starts until
        it has, so that two never read the cluster at once (loadtest/deadline.py).
        """
        try:
            return self._deadline.call(self._take_sample)
        except DeadlineError as error:
            raise SampleError(f"the Kubernetes API gave {error}; sample given up") from error

    def _take_sample(self) -> Sample:
        target = self.target
        now = time.time()
        where = f"{target.namespace}/"
        hpa = self._read(
            f"HorizontalPodAutoscaler {where}{target.hpa}",
            self._autoscaling.read_namespaced_horizontal_pod_autoscaler,
            target.hpa,
            target.namespace,
        )
        deployment = self._read(
            f"Deployment {where}{target.deployment}",
            self._apps.read_namespaced_deployment,
            target.deployment,
            target.namespace,
        )
        selector = ",".join(f"{key}={value}" for key, value in (deployment.spec.selector.match_labels or {}).items())
        pods = self._read(
            f"pods of {where}{target.deployment}", self._core.list_namespaced_pod, target.namespace,
            label_selector=selector,
        ).items  # fmt: skip
        # No pool (a cluster without the stack's pools): every node counts.
        nodes = self._read(
            f"nodes of node pool {target.node_pool}" if target.node_pool else "nodes", self._core.list_node,
            label_selector=f"{NODE_POOL_LABEL}={target.node_pool}" if target.node_pool else "",
        ).items  # fmt: skip
        server = self._server_view([pod.metadata.name for pod in pods if _is_running_ready(pod)], now)
        phases = Counter(pod.status.phase if pod.status else "Unknown" for pod in pods)
        reasons = Counter(_pending_reason(pod) for pod in pods if pod.status and pod.status.phase == "Pending")
        hpa_status = hpa.status or client.V2HorizontalPodAutoscalerStatus(desired_replicas=0)
        return Sample(
            time=now,
            hpa_current_replicas=hpa_status.current_replicas or 0,
            hpa_desired_replicas=hpa_status.desired_replicas or 0,
            hpa_cpu_utilization_percent=_cpu_utilization(hpa_status),
            hpa_cpu_target_percent=_cpu_target(hpa.spec),
            ready_replicas=(deployment.status.ready_replicas if deployment.status else 0) or 0,
            running_pods=phases["Running"],
            pending_pods=phases["Pending"],
            pending_reasons=";".join(f"{reason}:{count}" for reason, count in sorted(reasons.items())),
            nodes=len(nodes),
            ready_nodes=sum(1 for node in nodes if _is_ready(node)),
            server_rps=None if server is None else round(server.rps, 2),
            server_p95_ms=None if server is None or server.p95_ms is None else round(server.p95_ms, 1),
        )

    def _server_view(self, pods: list[str], now: float) -> server_metrics.ServerView | None:
        """TF Serving's own rate and p95 since the last sample, read through the API server's pod proxy."""
        if self._readings is None:
            return None
        readings: dict[str, server_metrics.Reading] = {}
        for pod in pods:
            try:
                text = self._core.connect_get_namespaced_pod_proxy_with_path(
                    f"{pod}:{server_metrics.REST_PORT}", self.target.namespace,
                    server_metrics.METRICS_PATH.lstrip("/"), _request_timeout=self._timeout,
                )  # fmt: skip
            except ApiException as error:
                if error.status in (401, 403):
                    log.warning("TF Serving's metrics cannot be read through the pod proxy (HTTP %s): "
                                "the chart shows the client's view only", error.status)  # fmt: skip
                    self._readings = None
                    return None
                continue  # a pod that is starting or stopping; the others still count
            except (HTTPError, OSError, ValueError):
                continue
            readings[pod] = server_metrics.parse(str(text), now, self.target.model_name)
        view = server_metrics.between(self._readings, readings)
        self._readings = readings
        return view


def _cpu_utilization(status: client.V2HorizontalPodAutoscalerStatus) -> int | None:
    for metric in status.current_metrics or []:
        if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
            return metric.resource.current.average_utilization
    return None


def _cpu_target(spec) -> int | None:
    for metric in (spec.metrics if spec else None) or []:
        if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
            return metric.resource.target.average_utilization
    return None


def _connection_problem(error: Exception, timeout: float) -> str:
    """One phrase for a failed connection, however urllib3 wrapped it."""
    reason = error.reason if isinstance(error, MaxRetryError) and error.reason else error
    if isinstance(reason, ReadTimeoutError) or "timed out" in str(reason).lower():
        return f"no answer within {timeout:g} s"
    if isinstance(reason, NewConnectionError) or "refused" in str(reason).lower():
        return "connection refused"
    if isinstance(reason, ProtocolError):
        return "the connection broke"
    return str(reason).splitlines()[0][:160] or type(reason).__name__


def first_sample(sampler: ClusterSampler) -> Sample:
    """The first sample, taken before any load: if it fails, nothing is started."""
    try:
        return sampler.sample()
    except SampleError as error:
        raise WatchError(f"Cannot watch the cluster: {error}.") from error


def _pending_reason(pod) -> str:
    """Why a pod is Pending: not scheduled (Unschedulable: no node has room), or a container still waiting."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return condition.reason or "NotScheduled"
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting and status.state.waiting.reason:
            return status.state.waiting.reason
    return "Pending"


def _is_running_ready(pod) -> bool:
    status = pod.status
    return bool(status and status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in status.conditions or []
    ))  # fmt: skip


def _is_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


@dataclass
class Record:
    """What a watch gathered: the samples, and when and why sampling failed."""

    samples: list[Sample]
    failures: list[FailedSample]


def watch(
    sampler: ClusterSampler,
    writer: TimelineWriter,
    interval: float,
    stop: threading.Event,
    record: Record,
    duration: float | None = None,
) -> None:
    """Sample into `record` until `stop` is set or `duration` has passed; a failed sample is logged and retried."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        started = time.monotonic()
        try:
            sample = sampler.sample()
        except SampleError as error:
            record.failures.append(FailedSample(time.time(), str(error)))
            log.warning("sample failed: %s", error)
        else:
            _keep(sample, writer, record)
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _keep(sample: Sample, writer: TimelineWriter, record: Record) -> None:
    writer.write(sample)
    record.samples.append(sample)
    log.info(
        "replicas desired %d, ready %d, pending %d%s; nodes %d; cpu %s%%",
        sample.hpa_desired_replicas, sample.ready_replicas, sample.pending_pods,
        f" ({sample.pending_reasons})" if sample.pending_reasons else "", sample.nodes,
        "?" if sample.hpa_cpu_utilization_percent is None else sample.hpa_cpu_utilization_percent,
    )  # fmt: skip


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


# What a kubeconfig that is not one raises, from the YAML parser or the client's loader.
_KUBECONFIG_ERRORS = (config.ConfigException, OSError, yaml.YAMLError, TypeError, AttributeError, ValueError, KeyError)


def sampler_from_args(args: argparse.Namespace, timeout: float) -> ClusterSampler:
    """Connect to the cluster the arguments name: a kubeconfig file, or the stack's exported one."""
    if args.kubeconfig is not None:
        path = args.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        shown = path or "~/.kube/config"
        try:
            api_client = config.new_client_from_config(config_file=path, context=args.context)
            listed: tuple[Any, Any] = config.list_kube_config_contexts(config_file=path)
            contexts, current = listed
            active: dict = next((c for c in contexts if c["name"] == args.context), {}) if args.context else current
        except _KUBECONFIG_ERRORS as error:
            raise TargetError(f"Cannot load the kubeconfig {shown}: {_first_line(error)}") from error
        defaults = project_defaults()
        context_namespace = (active.get("context") or {}).get("namespace")
        names = {"namespace": context_namespace or defaults["namespace"], "deploymentName": LAB_WORKLOAD,
                 "hpaName": LAB_WORKLOAD, "nodePoolName": defaults["nodePoolName"],
                 "modelName": defaults["modelName"]}  # fmt: skip
        origin = f"the context {active.get('name')!r}" if context_namespace else "Pulumi.yaml's default"
    else:
        names = stack_outputs(args.stack, show_secrets=True, instead="--kubeconfig [PATH]")
        api_client = stack_api_client(names, args.stack, args.context)
        origin = f"stack {args.stack}"
    target = WatchTarget(
        namespace=args.namespace or names["namespace"],
        deployment=args.deployment or names["deploymentName"],
        hpa=args.hpa or names["hpaName"],
        node_pool=args.node_pool or names["nodePoolName"],
        model_name=str(names.get("modelName") or model_api.DEFAULT_MODEL_NAME),
        namespace_origin="--namespace" if args.namespace else origin,
    )
    return ClusterSampler(api_client, target, timeout)


def stack_api_client(outputs: dict, stack: str, context: str | None = None) -> client.ApiClient:
    """A Kubernetes client from the stack's exported kubeconfig, or the file of a cluster the user already has."""
    if "kubeconfigPath" in outputs:
        try:
            return config.new_client_from_config(
                config_file=outputs["kubeconfigPath"], context=context or outputs.get("kubeContext") or None
            )
        except _KUBECONFIG_ERRORS as error:
            path = outputs["kubeconfigPath"]
            raise TargetError(f"Cannot use {path}, stack {stack}'s kubeconfig: {_first_line(error)}") from error
    if "kubeconfig" not in outputs:
        raise TargetError(f"Stack {stack} has no kubeconfig output yet; run `pulumi up` or pass --kubeconfig.")
    try:
        return config.new_client_from_config_dict(json.loads(outputs["kubeconfig"]), context=context)
    except _KUBECONFIG_ERRORS as error:
        raise TargetError(f"Cannot use stack {stack}'s kubeconfig: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    if not isinstance(error, (config.ConfigException, OSError, yaml.YAMLError)):
        return "it is not a kubeconfig (a YAML mapping of clusters, contexts and users)"
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def report(record: Record, report_dir: Path) -> None:
    """Draw the chart and print the key moments of what was sampled."""
    if record.failures:
        print(f"{len(record.failures)} sample(s) failed; the last: {record.failures[-1].error}")
    if not record.samples:
        print("No sample of the cluster was taken; nothing to chart.")
        return
    load = read_locust_history(report_dir / LOCUST_HISTORY_CSV)
    render_chart(record.samples, load, report_dir / TIMELINE_PNG, record.failures)
    start = timeline_start(record.samples, load)
    print(f"\nKey moments (seconds since start):\n{format_moments(key_moments(record.samples), start)}")
    print(f"Timeline: {report_dir / TIMELINE_CSV}, chart: {report_dir / TIMELINE_PNG}")


class Watcher:
    """Samples in a background thread while the caller waits or runs something else (the load test)."""

    def __init__(
        self,
        sampler: ClusterSampler,
        report_dir: Path,
        interval: float,
        duration: float | None = None,
        first: Sample | None = None,
    ) -> None:
        self.report_dir = report_dir
        self._writer = TimelineWriter(report_dir / TIMELINE_CSV)
        self._stop = threading.Event()
        # An Event, not Thread.join: a join cut short by Ctrl+C can report a live thread as finished.
        self._done = threading.Event()
        self.record = Record(samples=[], failures=[])
        if first is not None:
            _keep(first, self._writer, self.record)

        def run() -> None:
            try:
                if first is not None:
                    self._stop.wait(interval)
                watch(sampler, self._writer, interval, self._stop, self.record, duration)
            finally:
                self._done.set()

        self._thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def wait(self) -> bool:
        """Until the duration has passed; Ctrl+C ends it early, with what was sampled kept. True if interrupted."""
        try:
            while not self._done.wait(timeout=0.5):
                pass
        except KeyboardInterrupt:
            log.info("stopping on Ctrl+C")
            return True
        return False

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._done.wait()
        self._writer.close()
        report(self.record, self.report_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.watch",
        description="Sample the serving deployment's scaling into timeline.csv and timeline.png.",
    )
    parser.add_argument("--stack", default=DEFAULT_STACK, help="Pulumi stack to watch (default: %(default)s)")
    add_watch_arguments(parser)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_SECONDS, metavar="SECONDS",
                        help="time between samples (default: %(default)s)")  # fmt: skip
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop by itself after this long, plus at most one sample's deadline "
                        f"({SAMPLE_DEADLINE_READS} x --interval) when the API is slow")  # fmt: skip
    parser.add_argument("--report-dir", type=Path, required=True, metavar="DIR",
                        help="folder for timeline.csv and .png; a load test's folder adds its load")  # fmt: skip
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be above 0")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        check_report_dir(args.report_dir)
        sampler = sampler_from_args(args, timeout=args.interval)
        first = first_sample(sampler)
        create_report_dir(args.report_dir)
    except (ReportDirError, TargetError, WatchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return end_process(2)
    with Watcher(sampler, args.report_dir, args.interval, args.duration, first=first) as watcher:
        interrupted = watcher.wait()
    # The first sample was taken, so there is a timeline; failures on the way are reported with it.
    # Stopped by Ctrl+C, the watch did not run its course: 130, as a shell reports it.
    return end_process(130 if interrupted else 0)


if __name__ == "__main__":
    sys.exit(main())
