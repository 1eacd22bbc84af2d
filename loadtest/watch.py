"""`python -m loadtest.watch`: sample the serving deployment's scaling through the Kubernetes API.

Every few seconds it reads the HPA, the Deployment, its pods and the serving node
pool's nodes, appends a row to timeline.csv, and at the end draws timeline.png
(with the load test's own history when the folder has one) and prints the key
moments: when replicas were asked for and became ready, when nodes came and went.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest import model_api, verdict
from loadtest.deadline import end_process
from loadtest.kube_client import kubeconfig_client, stack_api_client
from loadtest.logs import show_logs
from loadtest.reports import ReportDirError, check_report_dir, create_report_dir
from loadtest.sampler import SAMPLE_DEADLINE_READS, ClusterSampler, SampleError, WatchError, WatchTarget, first_sample
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
# The lab's name of the Deployment and its HPA, used when the stack's outputs are not read (--kubeconfig).
LAB_WORKLOAD = "image-classifier"

log = logging.getLogger("loadtest.watch")


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
        sample.hpa_desired_replicas,
        sample.ready_replicas,
        sample.pending_pods,
        f" ({sample.pending_reasons})" if sample.pending_reasons else "",
        sample.nodes,
        "?" if sample.hpa_cpu_utilization_percent is None else sample.hpa_cpu_utilization_percent,
    )


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
        api_client, active = kubeconfig_client(path, args.context)
        defaults = project_defaults()
        context_namespace = (active.get("context") or {}).get("namespace")
        names = {
            "namespace": context_namespace or defaults["namespace"],
            "deploymentName": LAB_WORKLOAD,
            "hpaName": LAB_WORKLOAD,
            "nodePoolName": defaults["nodePoolName"],
            "modelName": defaults["modelName"],
        }
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

    def stop(self) -> None:
        """End the sampling now, as the duration's end would."""
        self._stop.set()

    def wait(self, until: Callable[[], bool] | None = None) -> bool:
        """Until the duration has passed, or `until()` holds (asked twice a second); Ctrl+C ends it early, with what
        was sampled kept. True if interrupted."""
        try:
            while not self._done.wait(timeout=0.5):
                if until is not None and until():
                    self.stop()
        except KeyboardInterrupt:
            log.info("stopping on Ctrl+C")
            return True
        return False

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._done.wait()
        self._writer.close()
        report(self.record, self.report_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.watch",
        description="Sample the serving deployment's scaling into timeline.csv and timeline.png.",
    )
    parser.add_argument("--stack", default=DEFAULT_STACK, help="Pulumi stack to watch (default: %(default)s)")
    add_watch_arguments(parser)
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="time between samples (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop by itself after this long, plus at most one sample's deadline "
        f"({SAMPLE_DEADLINE_READS} x --interval) when the API is slow (default: until Ctrl+C)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for timeline.csv and .png; a load test's folder adds its load",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be above 0")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be above 0")
    show_logs()
    try:
        check_report_dir(args.report_dir)
        sampler = sampler_from_args(args, timeout=args.interval)
        first = first_sample(sampler)
        create_report_dir(args.report_dir)
    except (ReportDirError, TargetError, WatchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return end_process(verdict.COULD_NOT_START)
    with Watcher(sampler, args.report_dir, args.interval, args.duration, first=first) as watcher:
        interrupted = watcher.wait()
    # The first sample was taken, so there is a timeline; failures on the way are reported with it.
    # Stopped by Ctrl+C, the watch did not run its course: 130, as a shell reports it.
    return end_process(verdict.INTERRUPTED if interrupted else verdict.PASSED)


if __name__ == "__main__":
    sys.exit(main())
