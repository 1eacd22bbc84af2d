"""The serving proxy's smoke mode runs and reports every measurement; only where TensorFlow is installed."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is benchmark-only: pip install -r requirements-benchmark.txt")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serving_proxy.py"


def test_the_smoke_run_reports_each_measurement():
    run = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    headings = (
        "Host: ",
        "Cold first call, fresh process:",
        "batch 8:",
        "JSON parse + base64 decode",
        "intra  1, inter  1:",
        "unbatched, up to 16 at once",
        "batching, max 8, 10 ms timeout",
    )
    for heading in headings:
        assert heading in run.stdout, run.stdout
    closed_loop = [line for line in run.stdout.splitlines() if "batching" in line or "unbatched" in line]
    assert len(closed_loop) == 9
    assert all(float(line.split("img/s ")[1].split()[0]) > 0 for line in closed_loop), "every run served images"
