"""`python -m loadtest`: find the model, check it answers, run the lab's load with Locust, report.

Locust runs in a child process: its gevent patching stays out of this one, which
only finds the target, checks it and (with --watch) samples the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import incluster_cli, model_api, verdict
from loadtest.deadline import end_process
from loadtest.incluster_objects import InClusterError, check_image_fits
from loadtest.logs import show_logs
from loadtest.options import (
    REQUEST_OPTIONS,
    SPAWN_RATE_HELP,
    STEP_OPTIONS,
    VERDICT_OPTIONS,
    add_options,
    dest,
    forward,
)
from loadtest.reports import ReportDirError, check_report_dir, create_report_dir, default_report_dir, describe
from loadtest.sampler import WatchError, first_sample
from loadtest.shape import duration_seconds
from loadtest.target import TargetError, add_target_arguments, predict_once
from loadtest.watch import DEFAULT_INTERVAL_SECONDS, Watcher, add_watch_arguments, sampler_from_args

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CSV_PREFIX = "locust"
HTML_REPORT = "report.html"

EPILOG = """\
examples:
  python -m loadtest                                   the lab's 11-minute step load against stack dev
  python -m loadtest --host http://34.1.2.3:8501       the same against a given server
  python -m loadtest --steps 3 --step-time 30          a shorter staircase
  python -m loadtest --users 50 --run-time 20s         a constant load (soak tests, measuring the generator)
  python -m loadtest --users 400 --run-time 5m --processes 2   more load than one core can make
  python -m loadtest --watch                           also record replicas and nodes: timeline.csv, timeline.png
  python -m loadtest --in-cluster --workers 4          generate the load from the cluster's load-generator pool

Run it from the repository's root, where python -m finds the package. The report folder
(default: reports/<timestamp>) receives Locust's CSV stats (locust_stats.csv,
locust_stats_history.csv, locust_failures.csv, locust_exceptions.csv), its HTML report
(report.html) and steps.csv, one row per step.
Exit status: 0 PASS (failures within --max-failure-ratio), 1 FAIL, 2 the test could not start,
130 INTERRUPTED (Ctrl+C: the load stops, the reports are written).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Drive the deployed TF Serving model with the lab's step load and report what happened.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    load = add_options(
        parser,
        STEP_OPTIONS,
        "load: steps (default: the lab's 2, 4, ... 22 users, 60 s each), or a constant load with --users",
    )
    load.add_argument("--users", type=int, metavar="N", help="run N users at once instead of steps; needs --run-time")
    load.add_argument("--run-time", metavar="TIME", help="how long the constant load runs: 20s, 5m, 1h30m")
    load.add_argument("--spawn-rate", type=float, metavar="R", help=SPAWN_RATE_HELP)
    add_options(parser, REQUEST_OPTIONS, "request")
    add_options(parser, VERDICT_OPTIONS, "verdict")
    output = parser.add_argument_group("output and scale")
    output.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="folder for the reports (default: a new reports/<timestamp> folder)",
    )
    output.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="Locust worker processes on this machine, a positive count or -1 for one per core",
    )
    cluster = parser.add_argument_group("load from inside the cluster (needs the stack's loadGeneratorNodes)")
    cluster.add_argument(
        "--in-cluster",
        action="store_true",
        help="run Locust's master and workers as pods on the stack's load-generator pool",
    )
    cluster.add_argument("--workers", type=int, default=1, metavar="N", help="worker pods (default: %(default)s)")
    cluster.add_argument(
        "--pending-timeout",
        type=float,
        default=300,
        metavar="SECONDS",
        help="how long Locust's pods may wait for a node before the run stops (default: %(default)s)",
    )
    cluster.add_argument(
        "--report-grace",
        type=float,
        default=incluster_cli.REPORT_GRACE_SECONDS,
        metavar="SECONDS",
        help="how long past the load's planned end the master's reports may take before the run fails "
        "(default: %(default)s)",
    )
    output.add_argument(
        "--watch",
        action="store_true",
        help="sample the HPA, pods and nodes during the test into timeline.csv and timeline.png",
    )
    output.add_argument(
        "--watch-interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="time between cluster samples (default: %(default)s)",
    )
    add_watch_arguments(parser)
    return parser


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.users is None) != (args.run_time is None):
        parser.error("a constant load needs both --users N and --run-time TIME")
    if args.users is not None:
        given = [flag for flag in STEP_OPTIONS if getattr(args, dest(flag)) is not None]
        if given:
            parser.error(f"{', '.join(given)} shape a step load; leave them out with --users/--run-time")
        if args.users < 1:
            parser.error("--users must be at least 1")
        if duration_seconds(args.run_time) is None:
            parser.error(f"--run-time {args.run_time!r} is not a duration like 20s, 5m or 1h30m")
    for flag in ("--spawn-rate", "--request-timeout", "--watch-interval", "--report-grace"):
        value = getattr(args, dest(flag))
        if value is not None and value <= 0:
            parser.error(f"{flag} must be above 0")
    if not 0 <= args.max_failure_ratio <= 1:
        parser.error(f"--max-failure-ratio is a fraction from 0 to 1 (0.02 means 2%), not {args.max_failure_ratio:g}")
    if args.in_cluster and (args.host or args.processes is not None):
        parser.error(
            "--in-cluster reads the stack's outputs and runs its own workers; leave out --host and --processes"
        )
    if args.workers < 1:
        parser.error(f"--workers takes a positive count, not {args.workers}")
    if args.processes is not None and args.processes < 1 and args.processes != -1:
        parser.error(f"--processes takes a positive count of workers, or -1 for one per core, not {args.processes}")


def load_arguments(args: argparse.Namespace) -> list[str]:
    """The Locust options that shape the load and the request, the same for a local and an in-cluster run."""
    arguments = []
    if args.users is not None:
        arguments += ["--users", str(args.users), "--run-time", args.run_time]
    if args.spawn_rate is not None:
        arguments += ["--spawn-rate", str(args.spawn_rate)]
    return arguments + forward(args)


def locust_command(args: argparse.Namespace, host: str, report_dir: Path, verdict_file: Path) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    command += ["--host", host, "--csv", str(report_dir / CSV_PREFIX), "--html", str(report_dir / HTML_REPORT)]
    command += ["--report-dir", str(report_dir), "--verdict-file", str(verdict_file)]
    if args.processes is not None:
        command += ["--processes", str(args.processes)]
    return command + load_arguments(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    started = time.time()
    try:
        report_dir = check_report_dir(args.report_dir or default_report_dir())
        cluster_run = None
        if args.in_cluster:
            check_image_fits(model_api.load_image(args.image))
            cluster_run = incluster_cli.prepare(args)
            # From inside the cluster, where the pods will load: the load balancer's source ranges do not apply.
            host, path, answer = incluster_cli.check_prediction(args, *cluster_run)
        else:
            host, path, answer = predict_once(args)
        # The cluster is checked like the model: one sample before any load, or no load at all.
        sampler = sampler_from_args(args, timeout=args.watch_interval) if args.watch else None
        first = first_sample(sampler) if sampler is not None else None
        create_report_dir(report_dir)
    except (ReportDirError, TargetError, WatchError, model_api.ImageError, InClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return end_process(verdict.COULD_NOT_START)
    except KeyboardInterrupt:
        print("Interrupted before the load started: nothing was run.", file=sys.stderr)
        return end_process(verdict.INTERRUPTED)
    label, probability = model_api.top_labels(answer)[0]
    print(f"{host}{path} answers: {label} ({probability:.1%}). Starting the load.", flush=True)

    watching: contextlib.AbstractContextManager = contextlib.nullcontext()
    if sampler is not None and first is not None:
        show_logs()
        watching = Watcher(sampler, report_dir, args.watch_interval, first=first)
    with tempfile.TemporaryDirectory() as scratch, watching:
        verdict_file = Path(scratch) / "verdict"
        if cluster_run is None:
            code, interrupted = _run_locust(locust_command(args, host, report_dir, verdict_file))
        else:
            code, interrupted = incluster_cli.run(args, *cluster_run, load_arguments(args), report_dir, verdict_file)
        line = verdict_file.read_text().strip() if verdict_file.exists() else ""
    if not line:
        line = f"FAIL: Locust ended (exit status {code}) without a verdict; see its messages above"
        code = code or verdict.FAILED
    print(f"\n{describe(report_dir, started)}\n{line}", flush=True)
    return end_process(verdict.INTERRUPTED if interrupted else code)


def _run_locust(command: list[str]) -> tuple[int, bool]:
    """Run Locust; Ctrl+C reaches it once, as SIGINT, and it stops the load and writes its reports."""
    # In a session of its own, Locust does not also get the terminal's SIGINT: a second one would abort
    # its shutdown before the reports are written.
    child = subprocess.Popen(command, start_new_session=True)
    interrupted = False

    def pass_sigint_on(_signum, _frame) -> None:
        nonlocal interrupted
        interrupted = True
        if child.poll() is None:
            child.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, pass_sigint_on)
    try:
        return child.wait(), interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
