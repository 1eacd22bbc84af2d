"""`python -m loadtest`: find the model, check it answers, run the lab's load with Locust, report.

Locust runs in a child process: its gevent patching stays out of this one, which
only finds the target, checks it and (with --watch) samples the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import re
import subprocess
import sys
from pathlib import Path

from loadtest import model_api
from loadtest.options import (
    REQUEST_OPTIONS,
    SPAWN_RATE_HELP,
    STEP_OPTIONS,
    VERDICT_OPTIONS,
    add_options,
    dest,
    forward,
)
from loadtest.target import TargetError, add_target_arguments, predict_once
from loadtest.watch import DEFAULT_INTERVAL_SECONDS, Watcher, add_watch_arguments, sampler_from_args

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CSV_PREFIX = "locust"
HTML_REPORT = "report.html"
_TIMESPAN = re.compile(r"^(?:\d+h)?(?:\d+m)?(?:\d+s)?$|^\d+$")

EPILOG = """\
examples:
  python -m loadtest                                   the lab's 11-minute step load against stack dev
  python -m loadtest --host http://34.1.2.3:8501       the same against a given server
  python -m loadtest --steps 3 --step-time 30          a shorter staircase
  python -m loadtest --users 50 --run-time 20s         a constant load (soak tests, measuring the generator)
  python -m loadtest --users 400 --run-time 5m --processes 2   more load than one core can make
  python -m loadtest --watch                           also record replicas and nodes: timeline.csv, timeline.png

The report folder receives Locust's CSV stats (locust_stats.csv, locust_stats_history.csv,
locust_failures.csv), its HTML report (report.html) and steps.csv, one row per step.
Exit status: 0 when failures stay within --max-failure-ratio, 1 when not, 2 when the test could not start.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Drive the deployed TF Serving model with the lab's step load and report what happened.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    add_options(parser, STEP_OPTIONS, "load steps (default: the lab's 2, 4, ... 22 users, 60 s each)")
    constant = parser.add_argument_group("constant load (instead of steps)")
    constant.add_argument("--users", type=int, metavar="N", help="run N users at once; needs --run-time")
    constant.add_argument("--run-time", metavar="TIME", help="how long the constant load runs: 20s, 5m, 1h30m")
    parser.add_argument("--spawn-rate", type=float, metavar="R", help=SPAWN_RATE_HELP)
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
        "--processes", type=int, metavar="N", help="Locust worker processes on this machine (-1: one per core)"
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
        if not _TIMESPAN.match(args.run_time):
            parser.error(f"--run-time {args.run_time!r} is not a duration like 20s, 5m or 1h30m")
    for flag in ("--steps", "--step-users"):
        value = getattr(args, dest(flag))
        if value is not None and value < 1:
            parser.error(f"{flag} must be at least 1")
    for flag in ("--step-time", "--spawn-rate"):
        value = getattr(args, dest(flag))
        if value is not None and value <= 0:
            parser.error(f"{flag} must be above 0")


def locust_command(args: argparse.Namespace, host: str, report_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    command += ["--host", host, "--csv", str(report_dir / CSV_PREFIX), "--html", str(report_dir / HTML_REPORT)]
    command += ["--report-dir", str(report_dir)]
    if args.users is not None:
        command += ["--users", str(args.users), "--run-time", args.run_time]
    if args.spawn_rate is not None:
        command += ["--spawn-rate", str(args.spawn_rate)]
    if args.processes is not None:
        command += ["--processes", str(args.processes)]
    return command + forward(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    try:
        host, path, answer = predict_once(args)
        sampler = sampler_from_args(args, timeout=args.watch_interval) if args.watch else None
    except (TargetError, model_api.ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    label, probability = model_api.top_labels(answer)[0]
    print(f"{host}{path} answers: {label} ({probability:.1%}). Starting the load.", flush=True)

    report_dir = args.report_dir or Path("reports") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    report_dir.mkdir(parents=True, exist_ok=True)
    watching = contextlib.nullcontext()
    if sampler is not None:
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s: %(message)s")
        watching = Watcher(sampler, report_dir, args.watch_interval)
    with watching:
        child = subprocess.Popen(locust_command(args, host, report_dir))
        try:
            code = child.wait()
        except KeyboardInterrupt:
            # Locust got the same Ctrl+C and is writing its reports; let it finish.
            code = child.wait()
    print(f"\nReports in {report_dir}/: {', '.join(sorted(p.name for p in report_dir.iterdir()))}")
    return code
