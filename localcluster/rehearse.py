"""`python -m localcluster.rehearse`: the lab's load against the stack's Kubernetes half on a local control plane,
scaled by Kubernetes' own HPA, metrics-server and scheduler, with node boots, image pulls and model loads taking
the time they are given, until the stack is back at rest (docs/rehearsal.md).

    .venv/bin/python -m localcluster.rehearse --stack dev --change spareReplicas=1
    .venv/bin/python -m localcluster.rehearse --steps 4 --step-time 30 --step-users 6      # a short one

Each run (rehearsal.py) has a control plane of its own. With --change, each run is repeated with that one setting
changed; with --measured-range, at the low, middle and high CPU per request the benchmark's figures allow. One
table and one chart compare the runs; the console shows one line per phase, the engine's output goes to a log.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from pulumi import automation as auto

from loadtest.logs import show_logs
from loadtest.options import STEP_OPTIONS, add_options, positive, step_load
from loadtest.target import stack_settings
from localcluster.build import BuildError, build, cache_root
from localcluster.cloud import Delays
from localcluster.comparison import COLUMNS, RunSummary, summarize, table
from localcluster.comparison_chart import render
from localcluster.controlplane import ControlPlaneError
from localcluster.engine import REPO
from localcluster.load_model import MEASURED, LoadModel
from localcluster.rehearsal import Rehearsal, RunResult, run_once
from localcluster.stack_settings import parse_change

COMPARISON_PNG = "comparison.png"
COMPARISON_MD = "comparison.md"
CPU_ENDS = ("low", "middle", "high")
# One run of the lab's load: 11 minutes of load, up to 20 more until back at rest, and a minute of start-up.
LAB_RUN_MINUTES = (11, 32)


def cpu_per_request(text: str) -> float:
    """A number of CPU-seconds, or low, middle or high of the measured range."""
    if text in CPU_ENDS:
        return MEASURED.cpu_seconds_per_request[CPU_ENDS.index(text)]
    return positive(float)(text)


def build_parser() -> argparse.ArgumentParser:
    low, middle, high = MEASURED.cpu_seconds_per_request
    parser = argparse.ArgumentParser(
        prog="python -m localcluster.rehearse",
        description="Rehearse the stack's scaling on a local control plane: the lab's load as CPU, the real HPA, "
        "metrics-server and scheduler, a model of cluster-autoscaler, and nodes and replicas that take the time they "
        f"are given to start. One run of the lab's load takes {LAB_RUN_MINUTES[0]}-{LAB_RUN_MINUTES[1]} minutes (the "
        "load, then until the stack is back at rest); the short example `--steps 4 --step-time 30 --step-users 6` "
        "about 8. The first run builds the tools (Go 1.26+).",
    )
    parser.add_argument("--stack", default="dev", help="stack whose settings to rehearse (default: dev)")
    parser.add_argument("--change", metavar="SETTING=VALUE", help="repeat each run with this one setting changed")
    parser.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="folder for the reports (default: reports/rehearsal-<time>)"
    )
    load = add_options(parser, STEP_OPTIONS, "load (default: the lab's 2, 4, ... 22 users, 60 s each)")
    load.add_argument(
        "--cpu-per-request",
        type=cpu_per_request,
        default=middle,
        metavar="CPU_SECONDS",
        help=f"CPU one prediction costs a replica: a number, or low ({low}), middle ({middle}) or high ({high}) of "
        f"the range {MEASURED.source} allows (default: middle)",
    )
    load.add_argument(
        "--measured-range", action="store_true", help="run at the low, middle and high CPU per request instead"
    )
    cloud = parser.add_argument_group("injected delays (defaults: the scale-up table of docs/scaling.md)")
    defaults = Delays()
    for option, default, what in (
        ("--node-boot", defaults.node_boot, "a new node's boot, until it registers"),
        ("--image-pull", defaults.image_pull, "pulling an image onto a node for the first time"),
        ("--model-load", defaults.model_load, "TF Serving loading the model (the probes' schedule adds to it)"),
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (REPO / f"Pulumi.{args.stack}.yaml").is_file():
        parser.error(f"--stack {args.stack}: there is no Pulumi.{args.stack}.yaml in {REPO}")
    values = stack_settings(args.stack)
    variants = [(args.stack, values)]
    if args.change:
        try:
            key, value = parse_change(args.change, values)
        except argparse.ArgumentTypeError as error:
            parser.error(f"--change {error}")
        variants.append((f"{args.stack}, {key}={value}", {**values, key: value}))
    cpus = MEASURED.cpu_seconds_per_request if args.measured_range else (args.cpu_per_request,)
    delays = Delays(args.node_boot, args.image_pull, args.model_load)
    # A SIGTERM stops the runs as Ctrl+C does: every process they started is stopped by its PID.
    signal.signal(signal.SIGTERM, _interrupt)
    report_dir = args.report_dir or REPO / "reports" / time.strftime("rehearsal-%Y%m%d-%H%M%S")
    show_logs(logging.WARNING)
    print(
        f"Injected: node boot {delays.node_boot:.0f} s, image pull {delays.image_pull:.0f} s, model load "
        f"{delays.model_load:.0f} s. CPU per request: {', '.join(f'{c:g}' for c in cpus)} CPU-s ({MEASURED.source})."
    )
    results: list[RunResult] = []
    try:
        print("[build] the tools, if missing (a first build prints progress every minute)", flush=True)
        build([], cache_root())
        plans = [(cpu, label, run_values) for cpu in cpus for label, run_values in variants]
        for index, (cpu, label, run_values) in enumerate(plans, 1):
            plan = Rehearsal(LoadModel(step_load(args), cpu), delays, args.interval)
            run_label = f"{label}, {cpu:g} CPU-s" if len(cpus) > 1 else label
            print(f"[run {index} of {len(plans)}] {run_label}", flush=True)
            results.append(run_once(run_label, run_values, plan, report_dir / f"run-{index}"))
    except (BuildError, ControlPlaneError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except auto.CommandError:
        print(
            f"error: deploying the stack failed; the engine's output is in {report_dir}/run-*/engine.log",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("Interrupted: every process of the rehearsal was stopped.", file=sys.stderr)
        return 130
    summaries: list[RunSummary] = [summarize(result) for result in results]
    model = LoadModel(step_load(args))
    users = [(float(s), model.users_at(s)) for s in range(int(model.load.duration) + 1)]
    render(results, users, report_dir / COMPARISON_PNG, f"Rehearsal of stack {args.stack}")
    (report_dir / COMPARISON_MD).write_text(f"{table(summaries)}\n\n{COLUMNS}\n")
    print(f"\n{table(summaries)}\n\n{COLUMNS}\n\nChart: {report_dir / COMPARISON_PNG}; each run under {report_dir}")
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
