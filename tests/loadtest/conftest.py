from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import PROJECT_DIR, run_module


@dataclass
class Double:
    url: str

    def received(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/_received", timeout=10) as response:
            return json.load(response)


@pytest.fixture
def start_double() -> Iterator[Callable[..., str]]:
    """Starts a double (a module of tests/loadtest run as its own process) and returns the URL it prints."""
    processes: list[subprocess.Popen] = []

    def start(module: str, *options: str) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", f"tests.loadtest.{module}", *options],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        return process.stdout.readline().strip()

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def tf_serving(start_double) -> Callable[..., Double]:
    """Starts loopback TF Serving doubles with the given behaviour options."""
    return lambda *options: Double(start_double("tf_serving_double", *options))


def default_sigint() -> None:
    """For a child the test will Ctrl+C (Popen's preexec_fn): a test run started in the background hands its
    children SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def constant_load(url, report_dir, *options, users=4, seconds="3s"):
    """`python -m loadtest` with a constant load of `users` for `seconds`, all users started at once."""
    return run_module(
        "loadtest",
        "--host",
        url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        seconds,
        "--report-dir",
        str(report_dir),
        *options,
    )


# One state per sample: load arrives, the HPA asks for a 2nd replica, which waits Unschedulable for a node,
# an API error interrupts one sample, the node joins and the replica becomes ready.
RUNNING, UNSCHEDULABLE, CREATING = ["Running", None], ["Pending", "Unschedulable"], ["Pending", "ContainerCreating"]
SCRIPT = [
    {"current": 1, "desired": 1, "ready": 1, "cpu": 20, "pods": [RUNNING], "nodes": 1},
    {"current": 1, "desired": 2, "ready": 1, "cpu": 95, "pods": [RUNNING, UNSCHEDULABLE], "nodes": 1},
    {"current": 2, "desired": 2, "ready": 1, "cpu": 97, "pods": [RUNNING, UNSCHEDULABLE], "nodes": 1},
    {"error": True},
    {"current": 2, "desired": 2, "ready": 1, "cpu": 96, "pods": [RUNNING, CREATING], "nodes": 2},
    {"current": 2, "desired": 2, "ready": 2, "cpu": 55, "pods": [RUNNING, RUNNING], "nodes": 2},
]


def kubeconfig_for(url: str, path) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": url}}],
        "contexts": [{"name": "double", "context": {"cluster": "double", "user": "double"}}],
        "current-context": "double",
        "users": [{"name": "double", "user": {"token": "test"}}],
    }
    path.write_text(json.dumps(config))
    return str(path)


def path_with(tmp_path, pulumi_script: str | None) -> dict:
    """An environment whose PATH has python and, if given, a stand-in `pulumi` command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if pulumi_script is not None:
        pulumi = bin_dir / "pulumi"
        pulumi.write_text(f"#!{sys.executable}\n{pulumi_script}")
        pulumi.chmod(pulumi.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}:{os.path.dirname(sys.executable)}"}
