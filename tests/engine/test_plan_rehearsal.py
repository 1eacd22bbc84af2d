"""`python -m loadtest.plan --rehearse`: the plan's settings deployed on the local control plane, a load climbing to
its peak, and the verdict decided by the real HPA reading metrics-server."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.capacity import from_benchmark
from loadtest.plan_rehearsal import climb, rehearse
from loadtest.planning import Stack, make_plan
from loadtest.target import stack_settings
from localcluster.cloud import Delays

pytestmark = pytest.mark.timeout(600)


def test_a_plan_rehearsed_holds_when_the_hpa_asks_for_its_replicas_at_the_peak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = stack_settings("dev")
    stack = Stack.from_settings(values)
    capacity = from_benchmark(stack.cpu_request, 60)
    # 15 requests/s at the benchmark's 0.17 CPU-s: 2.55 cores, 85 % of one replica's 3 CPUs against a 60 % target.
    plan = make_plan(capacity, 15, 500, stack)
    assert plan.replicas_at_peak == 2
    load = climb(15, steps=2, step_seconds=90)
    status = rehearse(
        plan, capacity, values, 15, "dev", load, tmp_path, Delays(node_boot=5, image_pull=1, model_load=1)
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "HELD: the HPA asked for the planned 2 replicas at" in out
    assert "| dev, planned | asked at" in out, "the table of the run, with asked -> Ready split"
    assert (tmp_path / "timeline.csv").is_file()
