"""`python -m localcluster.rehearse`: the lab's load against the stack's Kubernetes half on a local control plane,
scaled by Kubernetes' own HPA and scheduler, with node boots, image pulls and model loads taking their time.

    .venv/bin/python -m localcluster.rehearse --stack dev --change spareReplicas=1

Each run starts a control plane of its own (timed stages, the metrics API, the node autoscaler of cloud.py),
deploys the stack through the real engine, drives CPU from the load schedule, records the watcher's timeline,
and stops every process it started. With --change, a second run differs by that one setting, and one chart
and one table compare the two (docs/rehearsal.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.utils.quantity import parse_quantity

from infra.existing_settings import EXISTING_CLUSTER_ONLY_SETTINGS, GKE_ONLY_SETTINGS
from infra.serving import APP_NAME, COMPONENT
from infra.settings import project_defaults
from loadtest.logs import show_logs
from loadtest.options import STEP_OPTIONS, add_options, positive, step_load
from loadtest.sampler import ClusterSampler, WatchTarget
from loadtest.timeline import TIMELINE_PNG, LoadPoint, Sample, render_chart
from loadtest.watch import Watcher
from localcluster.build import BuildError, build, cache_root
from localcluster.cloud import Cloud, Delays
from localcluster.comparison import RunSummary, render, summarize, table
from localcluster.controlplane import ControlPlane
from localcluster.engine import PROJECT, REPO, make_stack, printer
from localcluster.load_model import CPU_SECONDS_PER_REQUEST, LoadModel, cores_per_replica
from localcluster.metrics_api import MetricsServer
from localcluster.nodes import Pool, allocatable, create_nodes, system_and_serving_pools
from localcluster.processes import ControlPlaneError

SERVING_POD = {"app.kubernetes.io/component": COMPONENT}
# After the load ends: long enough for a replica asked for at the last step to arrive without a spare node.
AFTER_LOAD_SECONDS = 180.0
COMPARISON_PNG = "comparison.png"
COMPARISON_MD = "comparison.md"


@dataclass(frozen=True)
class Rehearsal:
    model: LoadModel
    delays: Delays
    interval: float
    after_load: float


def stack_values(stack: str) -> dict[str, object]:
    """The stack's settings as the CLI would hand them over: Pulumi.yaml's defaults, then Pulumi.<stack>.yaml."""
    values = dict(project_defaults())
    stack_file = REPO / f"Pulumi.{stack}.yaml"
    declared = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in declared.items():
        if key.startswith(f"{PROJECT}:"):
            values[key.split(":", 1)[1]] = value
    return values


def pools(values: dict[str, object]) -> list[Pool]:
    """The stack's system and serving pools, at the size they start with and the most they may grow to."""
    return system_and_serving_pools(values, full_size=False)


def kubernetes_config(values: dict[str, object], kubeconfig: Path) -> dict[str, object]:
    """What the existing-cluster stack takes of the stack's settings: all but what shapes GKE (the pools do)."""
    left_out = {*GKE_ONLY_SETTINGS, *EXISTING_CLUSTER_ONLY_SETTINGS, "kubeconfig"}
    kept = {key: value for key, value in values.items() if key not in left_out}
    if not str(kept.get("modelSource", "")).startswith("gs://"):
        kept.pop("modelSource", None)  # no model is read here; a local folder would need the stack's bucket
    return {**kept, "kubeconfig": str(kubeconfig), "gkeNodePools": True}


def run_once(
    label: str,
    values: dict[str, object],
    plan: Rehearsal,
    report_dir: Path,
    before_teardown: Callable[[client.ApiClient], None] | None = None,
) -> list[Sample]:
    """One rehearsal on a control plane of its own; every process it started is stopped when it returns.

    `before_teardown` sees the cluster as the run left it (the engine tests read its events).
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    node_pools = pools(values)
    serving_cores = float(parse_quantity(allocatable(node_pools[1].machine_type)["cpu"]))
    load_started: list[float] = []

    def usage(running: list[client.V1Pod]) -> dict[str, float]:
        if not load_started:
            return {}
        ready = [p for p in running if _is_serving(p) and _is_ready(p)]
        share = cores_per_replica(plan.model.cpu_cores(time.time() - load_started[0]), len(ready), serving_cores)
        return {p.metadata.name: share for p in ready if p.metadata and p.metadata.name}

    print(f"[{label}] starting a local control plane in {root}", flush=True)
    with ControlPlane(root, timed=True) as plane:
        api = config.new_client_from_config(str(plane.kubeconfig))
        create_nodes(api, node_pools)
        metrics = MetricsServer(api, usage, root)
        metrics.start()
        cloud = Cloud(api, node_pools, plan.delays, SERVING_POD)
        cloud.start()
        try:
            print(f"[{label}] deploying the stack through the engine (waits for its pods, boots included)", flush=True)
            stack = make_stack("rehearsal", root / "engine", kubernetes_config(values, plane.kubeconfig))
            stack.up(on_output=printer(label))
            target = WatchTarget(
                namespace=str(values["namespace"]),
                deployment=APP_NAME,
                hpa=APP_NAME,
                node_pool=node_pools[1].name,
                model_name=str(values["modelName"]),
                namespace_origin="the rehearsal's stack",
            )
            sampler = ClusterSampler(config.new_client_from_config(str(plane.kubeconfig)), target, timeout=10)
            duration = plan.model.load.duration + plan.after_load
            print(
                f"[{label}] load starts: {plan.model.load.steps} steps of {plan.model.load.step_seconds:.0f} s; "
                f"watching for {duration:.0f} s",
                flush=True,
            )
            load_started.append(time.time())
            with Watcher(sampler, report_dir, plan.interval, duration) as watcher:
                if watcher.wait():
                    raise KeyboardInterrupt
            samples = watcher.record.samples
            if before_teardown is not None:
                before_teardown(api)
        finally:
            cloud.stop()
            metrics.stop()
    # The watcher drew the cluster and printed the key moments; the chart gets the load it was driven by.
    render_chart(samples, load_points(plan.model, load_started[0]), report_dir / TIMELINE_PNG)
    return samples


def load_points(model: LoadModel, start: float) -> list[LoadPoint]:
    seconds = range(int(model.load.duration) + 1)
    return [LoadPoint(start + s, round(model.users_at(s)), model.requests_per_second(s), None) for s in seconds]


def _is_serving(pod: client.V1Pod) -> bool:
    labels = (pod.metadata.labels if pod.metadata else None) or {}
    return all(labels.get(key) == value for key, value in SERVING_POD.items())


def _is_ready(pod: client.V1Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def parse_change(text: str, values: dict[str, object]) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or key not in values:
        raise argparse.ArgumentTypeError(
            f"--change {text!r}: write it as SETTING=VALUE with a setting of Pulumi.yaml, e.g. spareReplicas=1"
        )
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcluster.rehearse",
        description="Rehearse the stack's scaling on a local control plane: the lab's load as CPU, the real HPA "
        "and scheduler, simulated nodes that take time to boot. Needs Go 1.26+ for the first build.",
    )
    parser.add_argument("--stack", default="dev", help="stack whose settings to rehearse (default: dev)")
    parser.add_argument("--change", metavar="SETTING=VALUE", help="a second run with this one setting changed")
    parser.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="folder for the reports (default: reports/rehearsal-<time>)"
    )
    load = add_options(parser, STEP_OPTIONS, "load (default: the lab's 2, 4, ... 22 users, 60 s each)")
    load.add_argument(
        "--cpu-per-request",
        type=positive(float),
        default=CPU_SECONDS_PER_REQUEST,
        metavar="CPU_SECONDS",
        help=f"CPU one prediction costs a replica (default: {CPU_SECONDS_PER_REQUEST}, measured in benchmarks/)",
    )
    cloud = parser.add_argument_group("what a cloud makes wait (defaults: the scale-up table of docs/scaling.md)")
    defaults = Delays()
    for option, default, what in (
        ("--node-boot", defaults.node_boot, "a new node's boot, until pods can start on it"),
        ("--image-pull", defaults.image_pull, "pulling an image onto a node for the first time"),
        ("--model-load", defaults.model_load, "TF Serving loading the model, until the replica is Ready"),
    ):
        cloud.add_argument(
            option,
            type=positive(float, zero=True),
            default=default,
            metavar="SECONDS",
            help=f"{what} (default: {default:.0f})",
        )
    parser.add_argument(
        "--interval", type=positive(float), default=5.0, metavar="SECONDS", help="time between samples (default: 5)"
    )
    parser.add_argument(
        "--after-load",
        type=positive(float, zero=True),
        default=AFTER_LOAD_SECONDS,
        metavar="SECONDS",
        help=f"how long to watch once the load ends (default: {AFTER_LOAD_SECONDS:.0f})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (REPO / f"Pulumi.{args.stack}.yaml").is_file():
        parser.error(f"--stack {args.stack}: there is no Pulumi.{args.stack}.yaml in {REPO}")
    values = stack_values(args.stack)
    runs = [(args.stack, values)]
    if args.change:
        try:
            key, value = parse_change(args.change, values)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
        runs.append((f"{args.stack}, {key}={value}", {**values, key: value}))
    plan = Rehearsal(
        model=LoadModel(step_load(args), args.cpu_per_request),
        delays=Delays(args.node_boot, args.image_pull, args.model_load),
        interval=args.interval,
        after_load=args.after_load,
    )
    # A SIGTERM stops the runs as Ctrl+C does: every process they started is stopped by its PID.
    signal.signal(signal.SIGTERM, _interrupt)
    report_dir = args.report_dir or REPO / "reports" / time.strftime("rehearsal-%Y%m%d-%H%M%S")
    show_logs(logging.WARNING)
    delays = plan.delays
    print(
        f"Delays: node boot {delays.node_boot:.0f} s, image pull {delays.image_pull:.0f} s, model load "
        f"{delays.model_load:.0f} s; {plan.model.cpu_seconds_per_request} CPU-s per request"
    )
    try:
        build([], cache_root())
        results = [
            (label, run_once(label, run_values, plan, report_dir / f"run-{index}"))
            for index, (label, run_values) in enumerate(runs, 1)
        ]
    except (BuildError, ControlPlaneError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: every process of the rehearsal was stopped.", file=sys.stderr)
        return 130
    summaries: list[RunSummary] = [summarize(label, samples) for label, samples in results]
    render(results, load_points(plan.model, 0.0), report_dir / COMPARISON_PNG)
    (report_dir / COMPARISON_MD).write_text(table(summaries) + "\n")
    print(f"\n{table(summaries)}\n\nChart: {report_dir / COMPARISON_PNG}; each run's timeline under {report_dir}")
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
