"""CPU milliseconds per request: our load generator against a client written like the lab's.

Both run as whole `locust` processes (start-up included) against the same loopback
TF Serving double, with the same users, think time and duration; the CPU time of each
process (user + system, from the OS) is divided by the requests it completed.

    .venv/bin/python benchmarks/cpu_per_request.py [--users 200] [--run-time 30]
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLIENTS = {
    "ours (FastHttpUser, body built once)": PROJECT_DIR / "loadtest" / "locustfile.py",
    "lab-style (HttpUser, body re-serialised)": PROJECT_DIR / "benchmarks" / "lab_style_locustfile.py",
}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(locustfile: Path, url: str, users: int, run_time: int, report_dir: Path) -> tuple[int, float]:
    prefix = report_dir / locustfile.stem
    before = children_cpu_seconds()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--only-summary",
            "--host",
            url,
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{run_time}s",
            "--csv",
            str(prefix),
        ],
        cwd=PROJECT_DIR,
        check=False,
        capture_output=True,
    )
    cpu = children_cpu_seconds() - before
    with open(f"{prefix}_stats.csv", newline="") as file:
        total = next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")
    return int(total["Request Count"]), cpu


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="Locust users of each client (default: %(default)s)")
    parser.add_argument("--run-time", type=int, default=30, help="seconds per client (default: %(default)s)")
    return parser


def main() -> None:
    args = build_parser().parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.loadtest.tf_serving_double"], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    results = {}
    try:
        with tempfile.TemporaryDirectory() as report_dir:
            for name, locustfile in CLIENTS.items():
                requests, cpu = measure(locustfile, url, args.users, args.run_time, Path(report_dir))
                results[name] = cpu * 1000 / requests
                print(f"{name:42} {requests:7d} requests  {cpu:6.2f} s CPU  {results[name]:.3f} ms/request")
    finally:
        server.terminate()
        server.wait()
    ours, lab = results.values()
    print(f"lab-style / ours: {lab / ours:.1f}x the CPU per request (goal: at least 3x)")


if __name__ == "__main__":
    main()
