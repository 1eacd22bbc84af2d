"""The scaling watcher against a loopback Kubernetes API, and its chart and key moments."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from loadtest.timeline import (
    FailedSample,
    LoadPoint,
    Sample,
    TimelineWriter,
    format_moments,
    key_moments,
    pending_by_reason,
    render_chart,
)
from tests.cli import PROJECT_DIR, run_module
from tests.loadtest.conftest import (
    RUNNING,
    SCRIPT,
    constant_load,
    csv_rows,
    default_sigint,
    kubeconfig_for,
)


@pytest.fixture
def cluster(start_double, tmp_path) -> str:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    return kubeconfig_for(start_double("kube_api_double", str(script)), tmp_path / "kubeconfig.json")


def test_watch_samples_the_cluster_through_errors_and_reports_the_moments(cluster, tmp_path):
    report_dir = tmp_path / "report"
    run = run_module(
        "loadtest.watch",
        "--kubeconfig",
        cluster,
        "--interval",
        "0.3",
        "--duration",
        "2.4",
        "--report-dir",
        str(report_dir),
    )
    assert run.code == 0, run.stderr
    assert (
        "sample failed: reading the HorizontalPodAutoscaler tfserving/image-classifier failed: "
        "HTTP 500 Internal Server Error"
    ) in run.stderr

    rows = csv_rows(report_dir / "timeline.csv")
    assert list(rows[0]) == [
        "time",
        "hpa_current_replicas",
        "hpa_desired_replicas",
        "hpa_cpu_utilization_percent",
        "hpa_cpu_target_percent",
        "ready_replicas",
        "running_pods",
        "pending_pods",
        "pending_reasons",
        "nodes",
        "ready_nodes",
        "server_rps",
        "server_p95_ms",
    ]
    assert 6 <= len(rows) <= 9, "one row per successful sample, none for the failed one"
    first, unschedulable, _, creating, ready = rows[:5]
    assert (first["hpa_desired_replicas"], first["ready_replicas"], first["nodes"]) == ("1", "1", "1")
    assert (unschedulable["pending_pods"], unschedulable["pending_reasons"]) == ("1", "Unschedulable:1")
    assert unschedulable["hpa_cpu_utilization_percent"] == "95"
    assert unschedulable["hpa_cpu_target_percent"] == "60"
    assert (creating["nodes"], creating["ready_nodes"], creating["pending_reasons"]) == (
        "2",
        "2",
        "ContainerCreating:1",
    )
    assert (ready["ready_replicas"], ready["running_pods"], ready["pending_pods"]) == ("2", "2", "0")
    times = [float(row["time"]) for row in rows]
    assert times == sorted(times) and times[-1] - times[0] >= 1.5

    assert "replica 2 asked for by the HPA" in run.stdout
    assert "node joined: 2 node(s) ready" in run.stdout
    assert "replica 2 ready (" in run.stdout and "s after it was asked for)" in run.stdout
    assert (report_dir / "timeline.png").stat().st_size > 10_000


def test_load_test_with_watch_records_the_timeline_beside_locusts_history(cluster, tf_serving, tmp_path):
    server = tf_serving()
    run = constant_load(server.url, tmp_path, "--watch", "--kubeconfig", cluster, "--watch-interval", "0.5", users=2)
    assert run.code == 0, run.stderr
    rows = csv_rows(tmp_path / "timeline.csv")
    history = csv_rows(tmp_path / "locust_stats_history.csv")
    assert len(rows) >= 4
    # One clock: the samples fall within the load test's own history.
    assert float(history[0]["Timestamp"]) - 2 <= float(rows[0]["time"]) <= float(history[-1]["Timestamp"]) + 2
    assert (tmp_path / "timeline.png").stat().st_size > 10_000
    assert "Key moments" in run.stdout


def test_ctrl_c_stops_the_watch_and_keeps_what_it_sampled(cluster, tmp_path):
    report_dir = tmp_path / "report"
    timeline = report_dir / "timeline.csv"
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtest.watch",
            "--kubeconfig",
            cluster,
            "--interval",
            "0.2",
            "--report-dir",
            str(report_dir),
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not timeline.exists() or len(csv_rows(timeline)) < 3):
        time.sleep(0.1)
    watcher.send_signal(signal.SIGINT)
    stdout, stderr = watcher.communicate(timeout=20)
    assert watcher.returncode == 130, stderr
    assert "stopping on Ctrl+C" in stderr
    assert len(csv_rows(timeline)) >= 3
    assert (report_dir / "timeline.png").exists(), (stdout, stderr[-2000:])
    assert "Key moments" in stdout


def test_watch_without_the_pulumi_cli_says_to_pass_a_kubeconfig(tmp_path):
    environment = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    run = run_module("loadtest.watch", "--report-dir", str(tmp_path), env=environment)
    assert run.code == 2
    assert "The Pulumi CLI is not on PATH" in run.stderr and "pass --kubeconfig [PATH] instead" in run.stderr


def test_watch_without_a_cluster_says_what_to_pass(tmp_path):
    run = run_module("loadtest.watch", "--kubeconfig", str(tmp_path / "none.yaml"), "--report-dir", str(tmp_path))
    assert run.code == 2
    assert "Cannot load the kubeconfig" in run.stderr


def sample(at, desired, ready, nodes, pending=0, ready_nodes=None):
    reasons = "Unschedulable:1" if pending else ""
    ready_nodes = nodes if ready_nodes is None else ready_nodes
    return Sample(at, desired, desired, 60, 60, ready, ready, pending, reasons, nodes, ready_nodes)


RECORDED = [
    sample(95, 0, 1, 1),  # the HPA before its first sync
    sample(100, 1, 1, 1),
    sample(105, 2, 1, 1, pending=1),
    sample(110, 3, 1, 1, pending=2),
    sample(150, 3, 1, 2, pending=2, ready_nodes=1),  # a node registered, still booting
    sample(200, 3, 2, 2, pending=1),
    sample(230, 3, 3, 3),
    sample(600, 1, 1, 3),
    sample(1200, 1, 1, 2),
]


def test_key_moments_follow_the_timeline():
    moments = key_moments(RECORDED)
    assert [(moment.time, moment.text) for moment in moments] == [
        (105, "replica 2 asked for by the HPA"),
        (110, "replica 3 asked for by the HPA"),
        (200, "replica 2 ready (95 s after it was asked for)"),
        (200, "node joined: 2 node(s) ready"),
        (230, "replica 3 ready (120 s after it was asked for)"),
        (230, "node joined: 3 node(s) ready"),
        (600, "HPA scaled down to 1 replica(s)"),
        (1200, "node left: 2 node(s)"),
    ]
    assert format_moments(moments, start=100).splitlines()[0] == "      5 s  replica 2 asked for by the HPA"
    assert format_moments([], start=0) == "No scaling happened while watching."


def test_chart_carries_every_series(tmp_path):
    load = [LoadPoint(98 + second, 2 * (1 + second // 60), 2.0, 120.0) for second in range(0, 1100, 10)]
    path = tmp_path / "timeline.png"
    labels = render_chart(RECORDED, load, path, [FailedSample(150, "HTTP 500")])
    assert set(labels) == {
        "users",
        "requests/s",
        "p95 latency (ms)",
        "HPA CPU use (%)",
        "HPA target (%)",
        "desired replicas",
        "ready replicas",
        "pending: Unschedulable",
        "failed sample",
        "nodes",
    }
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_csv_holds_every_field_of_every_sample(tmp_path):
    writer = TimelineWriter(tmp_path / "timeline.csv")
    for recorded in RECORDED:
        writer.write(recorded)
    writer.close()
    rows = csv_rows(tmp_path / "timeline.csv")
    assert [float(row["time"]) for row in rows] == [sample.time for sample in RECORDED]
    assert rows[3] == {
        "time": "110.000",
        "hpa_current_replicas": "3",
        "hpa_desired_replicas": "3",
        "hpa_cpu_utilization_percent": "60",
        "hpa_cpu_target_percent": "60",
        "ready_replicas": "1",
        "running_pods": "1",
        "pending_pods": "2",
        "server_rps": "",
        "server_p95_ms": "",
        "pending_reasons": "Unschedulable:1",
        "nodes": "1",
        "ready_nodes": "1",
    }


def test_a_load_without_latencies_gets_no_empty_latency_panel(tmp_path):
    """A rehearsal's modelled load has users and requests, no latency: the chart leaves the panel out."""
    load = [LoadPoint(98 + second, 2, 2.0, None) for second in range(0, 600, 10)]
    labels = render_chart(RECORDED, load, tmp_path / "timeline.png")
    assert "p95 latency (ms)" not in labels
    assert {"users", "requests/s", "HPA CPU use (%)", "desired replicas", "nodes"} <= set(labels)


def test_a_watch_without_load_draws_only_the_cluster(tmp_path):
    labels = render_chart(RECORDED, [], tmp_path / "timeline.png")
    assert "users" not in labels and "p95 latency (ms)" not in labels
    assert {"HPA CPU use (%)", "desired replicas", "nodes"} <= set(labels)


def test_pending_pods_are_told_apart_by_reason():
    waiting = [
        Sample(1, 2, 2, 90, 60, 1, 1, 1, "Unschedulable:1", 1, 1),
        Sample(2, 2, 2, 90, 60, 1, 1, 1, "ContainerCreating:1", 2, 2),
        Sample(3, 2, 2, 50, 60, 2, 2, 0, "", 2, 2),
    ]
    assert pending_by_reason(waiting) == {"ContainerCreating": [0, 1, 0], "Unschedulable": [1, 0, 0]}


SERVING = [
    {"current": 1, "desired": 1, "ready": 1, "cpu": 40, "pods": [RUNNING], "nodes": 1, "served": 0},
    {"current": 1, "desired": 1, "ready": 1, "cpu": 45, "pods": [RUNNING], "nodes": 1, "served": 10},
    {"current": 1, "desired": 1, "ready": 1, "cpu": 50, "pods": [RUNNING], "nodes": 1, "served": 25},
]


def test_the_watch_reads_tf_servings_own_rate_and_latency_through_the_pod_proxy(start_double, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SERVING))
    kubeconfig = kubeconfig_for(start_double("kube_api_double", str(script)), tmp_path / "kubeconfig.json")
    run = run_module(
        "loadtest.watch",
        "--kubeconfig",
        kubeconfig,
        "--interval",
        "0.5",
        "--duration",
        "1.2",
        "--report-dir",
        str(tmp_path / "report"),
    )
    assert run.code == 0, run.stderr
    rows = csv_rows(tmp_path / "report" / "timeline.csv")
    assert rows[0]["server_rps"] == "", "a rate needs two readings"
    serving = [row for row in rows[1:] if row["server_rps"] and float(row["server_rps"]) > 0]
    assert serving, rows
    # Only image_classifier's requests count (the other model's 7x as many are not ours): 10 or 15 of them
    # per 0.5 s interval, all within 50-100 ms. Once the last state holds, nothing more is served.
    assert all(float(row["server_rps"]) <= 40 for row in serving)
    assert all(50 <= float(row["server_p95_ms"]) <= 100 for row in serving)
    assert rows[-1]["server_rps"] == "0.0" and rows[-1]["server_p95_ms"] == ""


def test_refused_metrics_leave_the_client_view_and_are_said_once(start_double, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{**state, "metrics_status": 403} for state in SERVING]))
    kubeconfig = kubeconfig_for(start_double("kube_api_double", str(script)), tmp_path / "kubeconfig.json")
    run = run_module(
        "loadtest.watch",
        "--kubeconfig",
        kubeconfig,
        "--interval",
        "0.3",
        "--duration",
        "1.2",
        "--report-dir",
        str(tmp_path / "report"),
    )
    assert run.code == 0, run.stderr
    assert run.stderr.count("TF Serving's metrics cannot be read through the pod proxy (HTTP 403)") == 1
    assert all(row["server_rps"] == "" for row in csv_rows(tmp_path / "report" / "timeline.csv"))
