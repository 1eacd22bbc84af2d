"""When things go wrong, the load test and the watcher say so, through the real CLI.

Each case asserts the exit status and the message, and that no traceback reaches the user.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import PROJECT_DIR, run_module
from tests.loadtest.conftest import (
    SCRIPT,
    constant_load,
    csv_rows,
    default_sigint,
    kubeconfig_for,
)


def no_traceback(run) -> None:
    assert "Traceback" not in run.stderr + run.stdout, (run.stdout[-1500:], run.stderr[-3000:])


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


# Arguments checked before any work


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-failure-ratio", "2"], "--max-failure-ratio is a fraction from 0 to 1 (0.02 means 2%), not 2"),
        (["--max-failure-ratio", "-1"], "--max-failure-ratio is a fraction from 0 to 1"),
        (["--processes", "-5"], "--processes takes a positive count of workers, or -1 for one per core, not -5"),
        (["--processes", "0"], "--processes takes a positive count"),
        (["--request-timeout", "0"], "--request-timeout must be above 0"),
        (["--report-grace", "0"], "--report-grace must be above 0"),
        (["--run-time", "1h30x", "--users", "2"], "--run-time '1h30x' is not a duration like 20s, 5m or 1h30m"),
    ],
)
def test_out_of_range_options_are_refused(arguments, message):
    run = run_module("loadtest", "--host", "http://127.0.0.1:9", *arguments)
    assert run.code == 2
    assert message in run.stderr
    no_traceback(run)


@pytest.mark.parametrize(
    ("module", "target"), [("loadtest", "--host=http://127.0.0.1:9"), ("loadtest.watch", "--kubeconfig=none")]
)
def test_an_unwritable_report_dir_is_one_line_before_any_work(module, target, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = run_module(module, target, "--report-dir", str(blocker / "reports"))
    assert run.code == 2
    assert (
        run.stderr.strip() == f"error: --report-dir {blocker / 'reports'}: {blocker} is a file, not a folder; "
        "choose another folder."
    )


# The model's answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"predictions": [[0.1, 0.9]]}, "the prediction is [0.1, 0.9], not an object with labels and probabilities"),
        ({"predictions": [{"scores": [0.9]}]}, "the prediction has no labels and probabilities lists, only ['scores']"),
        ({"predictions": [{"labels": ["a", "b"], "probabilities": [0.9]}]}, "the prediction has 2 labels but 1 prob"),
        ({"predictions": [{"labels": ["a"], "probabilities": ["high"]}]}, "probabilities are not all numbers"),
    ],
)
@pytest.mark.parametrize("module", ["loadtest", "loadtest.predict"])
def test_an_answer_of_the_wrong_shape_is_named(module, answer, message, tf_serving, tmp_path):
    server = tf_serving("--answer", json.dumps(answer))
    run = run_module(module, "--host", server.url)
    assert run.code == 2
    assert "answered, but " in run.stderr and message in run.stderr
    no_traceback(run)


def test_a_refused_connection_is_one_short_line(tmp_path):
    run = run_module("loadtest.predict", "--host", "http://127.0.0.1:9")
    assert run.code == 2
    assert "Cannot reach http://127.0.0.1:9: connection refused." in run.stderr
    assert "Max retries" not in run.stderr and "HTTPConnectionPool" not in run.stderr


# Faults on the wire during the load


def test_resets_count_as_failures_and_fail_the_run(tf_serving, tmp_path):
    server = tf_serving("--reset-every", "3")
    run = constant_load(server.url, tmp_path, users=10, seconds="4s")
    assert run.code == 1
    no_traceback(run)
    (totals,) = [row for row in csv_rows(tmp_path / "locust_stats.csv") if row["Name"] == "Aggregated"]
    seen = len(server.received()) - 1  # the preflight prediction is not part of the load
    assert int(totals["Request Count"]) == seen, "every predict the server read is counted"
    # The server resets its 3rd, 6th, ... predict; its 1st was the preflight, so the load's are 2nd to (seen+1)th.
    assert int(totals["Failure Count"]) == (seen + 1) // 3 > 0
    assert last_line(run.stdout).startswith("FAIL: ")


def test_a_hanging_server_times_requests_out_and_reports_the_unanswered(tf_serving, tmp_path):
    server = tf_serving("--hang-after", "1")
    run = constant_load(server.url, tmp_path, "--request-timeout", "1", users=4, seconds="4s")
    assert run.code == 1
    no_traceback(run)
    failures = csv_rows(tmp_path / "locust_failures.csv")
    # The read timeout or the whole answer's deadline, whichever fires first: both are 1 s.
    assert failures and all("answer within 1 s" in row["Error"] for row in failures), failures
    verdict = last_line(run.stdout)
    assert verdict.startswith("FAIL: ") and "0 failures" not in verdict


def test_requests_the_server_got_and_never_answered_are_named_and_fail_the_run(tf_serving, tmp_path):
    """The load ends while two users wait on a stalled server: those requests count, though no timeout fired."""
    server = tf_serving("--hang-after", "4")
    run = constant_load(server.url, tmp_path, "--request-timeout", "60", users=2, seconds="3s")
    no_traceback(run)
    verdict = last_line(run.stdout)
    stalled = len(server.received()) - 4  # the preflight and 3 load requests were answered
    assert stalled == 2, server.received()
    assert verdict.startswith("FAIL: 3 requests, 0 failures (40.00%"), verdict
    assert "2 request(s) sent and never answered when the load stopped, counted as failed" in verdict
    assert run.code == 1


def test_a_server_that_drips_its_answers_fails_each_request_at_the_timeout(tf_serving, tmp_path):
    """Each byte arrives within the read timeout: the whole answer's deadline fails the request."""
    server = tf_serving("--drip-after", "1")
    run = constant_load(server.url, tmp_path, "--request-timeout", "1", users=2, seconds="4s")
    assert run.code == 1
    no_traceback(run)
    failures = csv_rows(tmp_path / "locust_failures.csv")
    assert failures and all("no complete answer within 1 s" in row["Error"] for row in failures), failures
    assert last_line(run.stdout).startswith("FAIL: ")


def test_a_preflight_that_drips_is_given_up_at_its_deadline(tf_serving):
    run = run_module("loadtest.predict", "--host", tf_serving("--drip-after", "0").url, timeout=90)
    assert run.code == 2
    assert run.stderr.startswith("error: Cannot reach http://127.0.0.1:")
    assert ": no complete answer within 30 s." in run.stderr
    no_traceback(run)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("loadtest.predict", "Interrupted: no prediction was made."),
        ("loadtest", "Interrupted before the load started: nothing was run."),
    ],
)
def test_ctrl_c_during_the_preflight_is_one_line_and_130(module, message, tf_serving, tmp_path):
    server = tf_serving("--drip-after", "0")
    report = ["--report-dir", str(tmp_path / "r")] if module == "loadtest" else []
    child = subprocess.Popen(
        [sys.executable, "-m", module, "--host", server.url, *report],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    # Ctrl+C once the preflight's request is at the server, not after a guessed time.
    deadline = time.monotonic() + 60
    while not server.received() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.received(), "the preflight never reached the server"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip().splitlines() == [message]
    assert "Traceback" not in out + err


# The verdict is the last line, and lists only this run's reports


def test_the_verdict_is_the_last_line_and_the_last_step_is_logged(tf_serving, tmp_path):
    server = tf_serving()
    (tmp_path / "old-report.csv").write_text("from an earlier run")
    run = run_module(
        "loadtest",
        "--host",
        server.url,
        "--steps",
        "2",
        "--step-time",
        "2",
        "--step-users",
        "2",
        "--spawn-rate",
        "10",
        "--report-dir",
        str(tmp_path),
    )
    assert run.code == 0, run.stderr
    assert last_line(run.stdout).startswith("PASS: ")
    assert "step 1/2 done" in run.stderr and "step 2/2 done" in run.stderr
    reports = next(line for line in run.stdout.splitlines() if line.startswith("Reports in"))
    assert "old-report.csv" not in reports and "(1 older file(s) from an earlier run left there)" in reports
    assert "locust_exceptions.csv" in reports


# Ctrl+C


@pytest.mark.parametrize("to_group", [False, True])
def test_ctrl_c_stops_the_load_writes_the_reports_and_is_not_a_pass(to_group, tf_serving, tmp_path):
    server = tf_serving()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtest",
            "--host",
            server.url,
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--run-time",
            "60s",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(server.received()) < 8:
        time.sleep(0.2)
    started = time.monotonic()
    if to_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 20, "the load stops at once, not after its 60 s"
    assert process.returncode == 130, stderr[-2000:]
    assert last_line(stdout).startswith("INTERRUPTED: "), stdout[-1000:]
    assert "PASS" not in stdout
    assert "Traceback" not in stderr, stderr[-3000:]
    assert (tmp_path / "report.html").exists() and (tmp_path / "locust_stats.csv").exists()
    # Every report holds the verdict's totals, though Locust writes its CSV on a timer.
    requests = int(last_line(stdout).split(": ", 1)[1].split(" requests")[0])
    aggregated = next(row for row in csv_rows(tmp_path / "locust_stats.csv") if row["Name"] == "Aggregated")
    assert int(aggregated["Request Count"]) == requests


# The watcher


def script_file(tmp_path, states) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(states))
    return str(path)


@pytest.fixture
def hostile_cluster(start_double, tmp_path):
    def start(*states: dict) -> str:
        url = start_double("kube_api_double", script_file(tmp_path, list(states)))
        return kubeconfig_for(url, tmp_path / "kubeconfig.json")

    return start


def watch(kubeconfig, tmp_path, *options, timeout=30):
    return run_module(
        "loadtest.watch",
        "--kubeconfig",
        kubeconfig,
        "--interval",
        "1",
        "--duration",
        "3",
        "--report-dir",
        str(tmp_path / "watch"),
        *options,
        timeout=timeout,
    )


def test_the_wrong_namespace_stops_the_watch_at_once_naming_the_object(hostile_cluster, tmp_path):
    run = watch(hostile_cluster(*SCRIPT), tmp_path, "--namespace", "default")
    assert run.code == 2
    assert (
        "Cannot watch the cluster: HorizontalPodAutoscaler default/image-classifier not found (HTTP 404); "
        "pass --namespace (now 'default', from --namespace)"
    ) in run.stderr
    no_traceback(run)
    assert not (tmp_path / "watch").exists()


def test_a_load_test_with_a_wrong_watch_never_starts_the_load(hostile_cluster, tf_serving, tmp_path):
    server = tf_serving()
    run = constant_load(
        server.url, tmp_path / "r", "--watch", "--kubeconfig", hostile_cluster(*SCRIPT), "--namespace", "elsewhere"
    )
    assert run.code == 2
    assert "HorizontalPodAutoscaler elsewhere/image-classifier not found" in run.stderr
    assert len(server.received()) == 1, "only the preflight prediction, no load"


def test_the_contexts_namespace_is_the_default(hostile_cluster, tmp_path):
    kubeconfig = Path(hostile_cluster(*SCRIPT))
    config = json.loads(kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = "team-a"
    kubeconfig.write_text(json.dumps(config))
    run = watch(str(kubeconfig), tmp_path)
    assert run.code == 2
    assert "HorizontalPodAutoscaler team-a/image-classifier not found" in run.stderr
    assert "from the context 'double'" in run.stderr


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {"status": 403},
            "the credentials may not read the HorizontalPodAutoscaler tfserving/image-classifier "
            "(HTTP 403 Forbidden); the watcher needs get on horizontalpodautoscalers",
        ),
        ({"status": 401}, "the cluster refused the credentials when reading the HorizontalPodAutoscaler"),
        ({"garbage": True}, "the API server's answer was not a Kubernetes object"),
        ({"hang": True}, "reading the HorizontalPodAutoscaler tfserving/image-classifier failed: no answer within 1 s"),
    ],
)
def test_a_hostile_api_is_one_line_and_a_failure(state, message, hostile_cluster, tmp_path):
    run = watch(hostile_cluster(state), tmp_path)
    assert run.code == 2
    assert message in run.stderr
    assert "Retrying" not in run.stderr and "Exception in thread" not in run.stderr
    no_traceback(run)


def test_an_api_that_drips_its_answers_cannot_hold_the_watch(hostile_cluster, tmp_path):
    """Each byte comes within the read timeout: only the sample's own deadline (3 x --interval) ends it."""
    run = watch(hostile_cluster(SCRIPT[0], {**SCRIPT[0], "drip": True}), tmp_path, timeout=60)
    assert run.code == 0  # the first sample was taken: the timeline holds it, and the failures are reported
    assert "the Kubernetes API gave no complete answer within 3 s; sample given up" in run.stderr
    assert "1 sample(s) failed" in run.stdout
    no_traceback(run)


def test_a_load_test_whose_watch_drips_still_ends_with_its_verdict_and_chart(hostile_cluster, tf_serving, tmp_path):
    server = tf_serving()
    kubeconfig = hostile_cluster(SCRIPT[0], {**SCRIPT[0], "drip": True})
    run = constant_load(server.url, tmp_path / "r", "--watch", "--watch-interval", "1", "--kubeconfig", kubeconfig)
    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("PASS")
    assert "sample given up" in run.stdout + run.stderr
    assert (tmp_path / "r" / "timeline.png").is_file()
    no_traceback(run)


def test_an_api_that_drips_from_the_start_is_one_line(hostile_cluster, tmp_path):
    run = watch(hostile_cluster({**SCRIPT[0], "drip": True}), tmp_path, timeout=60)
    assert run.code == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "error: Cannot watch the cluster: the Kubernetes API gave no complete answer within 3 s; sample given up."
    )
    no_traceback(run)


def test_a_refused_api_is_one_line_per_sample_after_a_good_start(tmp_path):
    # Its own double, so that it stops exactly this server and nothing else on the machine.
    api = subprocess.Popen(
        [sys.executable, "-m", "tests.loadtest.kube_api_double", script_file(tmp_path, SCRIPT[:1])],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert api.stdout is not None
    url = api.stdout.readline().strip()
    kubeconfig = kubeconfig_for(url, tmp_path / "kubeconfig.json")
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtest.watch",
            "--kubeconfig",
            kubeconfig,
            "--interval",
            "0.3",
            "--duration",
            "3",
            "--report-dir",
            str(tmp_path / "watch"),
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Once the first sample is in the timeline (an event, not a guessed time: a busy machine takes longer),
    # stop the API server: every later sample meets a refused connection.
    timeline = tmp_path / "watch" / "timeline.csv"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (timeline.exists() and len(timeline.read_text().splitlines()) > 1):
        time.sleep(0.05)
    api.terminate()
    api.wait(timeout=10)
    stdout, stderr = watcher.communicate(timeout=30)
    failed = [line for line in stderr.splitlines() if "sample failed" in line]
    assert failed and all("connection refused" in line for line in failed), stderr[-2000:]
    assert "Retrying" not in stderr
    assert "sample(s) failed; the last: reading the HorizontalPodAutoscaler" in stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not: yaml: at all", "Cannot load the kubeconfig"),
        ("- a\n- list\n", "it is not a kubeconfig (a YAML mapping of clusters, contexts and users)"),
        ("just a line of text\n", "it is not a kubeconfig"),
    ],
)
def test_a_kubeconfig_that_is_not_one_is_one_line(content, message, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    run = watch(str(kubeconfig), tmp_path)
    assert run.code == 2
    assert message in run.stderr and str(kubeconfig) in run.stderr
    no_traceback(run)
