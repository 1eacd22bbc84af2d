"""`python -m loadtest.plan`: a replica's capacity from a run, the plan from it, and the CLI's refusals."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.capacity import CapacityError, from_run, levels
from loadtest.planning import PlanError, Stack, make_plan
from loadtest.target import stack_settings
from loadtest.timeline import LOCUST_HISTORY_CSV, TIMELINE_CSV, Sample, TimelineWriter
from tests.cli import PROJECT_DIR, run_module

RECORDED = PROJECT_DIR / "tests" / "loadtest" / "fixtures" / "plan-run"
HISTORY_HEADER = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "95%"]


def write_run(folder: Path, points: list[tuple[int, int, float, int, float]]) -> Path:
    """A report folder of (time, replicas, requests/s of them all, CPU %, p95 ms) points: one Locust history row a
    second before each timeline sample, then the sample."""
    folder.mkdir()
    timeline = TimelineWriter(folder / TIMELINE_CSV)
    with (folder / LOCUST_HISTORY_CSV).open("w", newline="") as file:
        history = csv.writer(file)
        history.writerow(HISTORY_HEADER)
        for at, replicas, rps, cpu, p95 in points:
            history.writerow([at - 1, 10, "", "Aggregated", rps, p95])
            timeline.write(Sample(at, replicas, replicas, cpu, 60, replicas, replicas, 0, "", replicas, replicas))
    timeline.close()
    return folder


# Requests/s per replica 1..6 and CPU exactly 10 % of the request per request/s, at one and two replicas.
LINEAR = [
    (10, 1, 1.0, 10, 100.0),
    (20, 1, 2.0, 20, 110.0),
    (30, 1, 3.0, 30, 120.0),
    (40, 2, 8.0, 40, 150.0),
    (50, 2, 10.0, 50, 200.0),
    (60, 2, 12.0, 60, 400.0),
]


def test_a_replicas_rate_at_the_target_is_the_slope_through_the_origin(tmp_path):
    capacity = from_run(write_run(tmp_path / "run", LINEAR), "3")
    # CPU % = 10 x requests/s per replica: the 60 % target is 6 requests/s; 0.1 of 3 CPUs a request/s, 0.3 CPU-s.
    assert capacity.rps_at_target == pytest.approx(6.0)
    assert capacity.cpu_seconds_per_request == pytest.approx(0.3)
    assert capacity.target_percent == 60
    assert [o.rps_per_replica for o in capacity.observations] == [1, 2, 3, 4, 5, 6]
    assert "6 samples" in capacity.source


def test_the_p95_objective_bounds_the_rate_at_the_busiest_level_that_met_it(tmp_path):
    capacity = from_run(write_run(tmp_path / "run", LINEAR), "3")
    # Five bands over 0..6 requests/s a replica: 1, 2, 3, 4, 5 and 6 (the last two share the top band).
    assert [(level.rps_per_replica, level.median_p95_ms) for level in levels(capacity)] == [
        (1.0, 100.0),
        (2.0, 110.0),
        (3.0, 120.0),
        (4.0, 150.0),
        (5.5, 300.0),
    ]
    assert capacity.rate_under_p95(150) == (4.0, 1)
    assert capacity.rate_under_p95(1000) == (math.inf, 2), "every level met it: it bounds nothing measured"
    assert capacity.rate_under_p95(50) is None
    stack = Stack.from_settings(stack_settings("dev"))
    tight = make_plan(capacity, 20, 150, stack)
    assert (tight.rate_per_replica, tight.replicas_at_peak) == (4.0, 5)
    assert "p95 objective" in tight.limited_by
    loose = make_plan(capacity, 20, 1000, stack)
    assert (loose.rate_per_replica, loose.replicas_at_peak) == (pytest.approx(6.0), 4)
    assert "60 % target" in loose.limited_by
    with pytest.raises(PlanError, match=r"--p95 50: no level of the run met it \(the best level's median p95 was 100"):
        make_plan(capacity, 20, 50, stack)


def test_a_flat_run_and_a_short_one_are_refused(tmp_path):
    flat = [(at, 1, 1.0, 15, 100.0) for at in range(10, 80, 10)]
    with pytest.raises(CapacityError, match="never rose above 15 % of their request, too flat"):
        from_run(write_run(tmp_path / "flat", flat), "3")
    with pytest.raises(CapacityError, match="3 samples with load, Ready replicas and a CPU reading; at least 6"):
        from_run(write_run(tmp_path / "short", LINEAR[:3]), "3")


def test_the_plan_spreads_replicas_over_nodes_and_counts_quotas(tmp_path):
    capacity = from_run(write_run(tmp_path / "run", LINEAR), "3")
    values = stack_settings("dev")
    plan = make_plan(capacity, 50, 1000, Stack.from_settings(values, "n1-standard-8"))
    # 50 / 6 -> 9 replicas; two 3-CPU replicas a n1-standard-8 -> 5 nodes.
    assert (plan.replicas_at_peak, plan.per_node, plan.max_nodes, plan.min_nodes) == (9, 2, 5, 1)
    assert plan.settings == {
        "machineType": "n1-standard-8",
        "minNodes": 1,
        "maxNodes": 5,
        "maxReplicas": 9,
        "targetCpuUtilization": 60,
    }
    # 5 x 8 serving vCPUs and 2 x 2 system; 5 x 100 GB and 2 x 30 GB; a node address each and the load balancer's.
    assert plan.quotas == {"CPUS": 44, "SSD_TOTAL_GB": 560, "IN_USE_ADDRESSES": 8}
    assert plan.at_peak_usd is not None
    assert plan.per_million_usd == pytest.approx(plan.at_peak_usd / (50 * 3600) * 1e6)


def test_the_recorded_run_plans_and_prints_the_lines_to_apply():
    run = run_module("loadtest.plan", "--from", str(RECORDED), "--rps", "50", "--p95", "4")
    assert run.code == 0, run.stderr
    assert "One replica (3 CPU, 4Gi), from the run in" in run.stdout
    assert "pulumi config set maxReplicas" in run.stdout
    assert "n1-standard-4 Spot |" in run.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--from", "no/such/folder"], "--from no/such/folder: no such folder; give a load test's report folder"),
        (["--from", "docs"], "--from docs: no locust_stats_history.csv; it is written by `python -m loadtest`"),
        (["--from", str(RECORDED), "--p95", "1"], "--p95 1: no level of the run met it"),
        (["--stack", "nope"], "--stack nope: there is no Pulumi.nope.yaml"),
        (["--machine-type", "e2-medium"], "--machine-type e2-medium: a replica of 3 CPU and 4Gi does not fit one"),
        (["--stack", "gpu"], "stack gpu serves on nvidia-tesla-t4, and the benchmark measured a CPU"),
        (["--from", str(RECORDED), "--target", "70"], "--target: the run's timeline holds the HPA target it ran with"),
    ],
)
def test_a_plan_that_cannot_be_made_is_refused_in_one_line(args, expected):
    given = {"--rps": "50", "--p95": "500"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        given[flag] = value
    run = run_module("loadtest.plan", *[word for pair in given.items() for word in pair])
    assert run.code == 2
    assert run.stdout == ""
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("python -m loadtest.plan: error: ") and expected in line


def test_the_planner_runs_without_the_pulumi_runtime_or_locust():
    """It reads the price and node tables of infra/, never the Pulumi program; the rehearsal loads only when asked."""
    code = (
        "import sys, loadtest.plan; "
        "print(sorted(m for m in ('pulumi', 'locust', 'gevent', 'localcluster.rehearsal') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
