"""Real Locust runs, through the CLI, against a loopback server that speaks TF Serving's REST API."""

import hashlib

from loadtest import model_api
from tests.cli import run_module
from tests.loadtest.conftest import constant_load, csv_rows

LAB_PATH = "/v1/models/image_classifier/versions/1:predict"


def aggregated(report_dir):
    return next(row for row in csv_rows(report_dir / "locust_stats.csv") if row["Name"] == "Aggregated")


def test_constant_load_sends_the_labs_request_and_reports_what_the_server_saw(tf_serving, tmp_path):
    server = tf_serving()
    run = constant_load(server.url, tmp_path)
    assert run.code == 0, run.stderr
    assert "answers: military uniform (80.0%)" in run.stdout
    assert "PASS:" in run.stdout

    received = server.received()
    grace_hopper = hashlib.sha256(model_api.default_image()).hexdigest()
    assert grace_hopper.startswith("a8ca6d734765703b")
    assert {item["path"] for item in received} == {LAB_PATH}
    assert {item["signature"] for item in received} == {"serving_preprocess"}
    assert all(item["image_sha256"] == [grace_hopper] for item in received)

    for report in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "report.html", "steps.csv"):
        assert (tmp_path / report).stat().st_size > 0, report
    total = aggregated(tmp_path)
    # The server also saw the one check before the load started.
    assert int(total["Request Count"]) == len(received) - 1 > 10
    assert int(total["Failure Count"]) == 0
    (step,) = csv_rows(tmp_path / "steps.csv")
    assert (step["users"], step["requests"]) == ("4", total["Request Count"])


def test_step_load_adds_users_each_step_and_reports_each_step(tf_serving, tmp_path):
    server = tf_serving()
    run = run_module(
        "loadtest",
        "--host",
        server.url,
        "--steps",
        "2",
        "--step-time",
        "2",
        "--step-users",
        "3",
        "--spawn-rate",
        "10",
        "--report-dir",
        str(tmp_path),
    )
    assert run.code == 0, run.stderr
    steps = csv_rows(tmp_path / "steps.csv")
    assert [(row["step"], row["users"]) for row in steps] == [("1", "3"), ("2", "6")]
    assert all(1.5 <= float(row["seconds"]) <= 3.5 for row in steps)
    assert sum(int(row["requests"]) for row in steps) == int(aggregated(tmp_path)["Request Count"])
    assert int(steps[1]["requests"]) > int(steps[0]["requests"]) > 0
    assert "Per step:" in run.stdout and "step 1/2 done: 3 users" in run.stderr


def test_server_errors_are_failures_with_reasons_and_fail_the_run(tf_serving, tmp_path):
    server = tf_serving("--fail-every", "3")
    run = constant_load(server.url, tmp_path)
    assert run.code == 1
    assert "FAIL:" in run.stdout
    received = server.received()
    served_errors = len(received) // 3  # every third request the server saw, the check being the first
    (failure,) = csv_rows(tmp_path / "locust_failures.csv")
    assert "HTTP 500: Resource exhausted: OOM when allocating tensor" in failure["Error"]
    assert int(failure["Occurrences"]) == served_errors == int(aggregated(tmp_path)["Failure Count"])


def test_malformed_and_error_bodies_are_failures_with_their_reasons(tf_serving, tmp_path):
    server = tf_serving("--malformed-every", "2", "--error-every", "5")
    run = constant_load(server.url, tmp_path)
    assert run.code == 1
    errors = {row["Error"]: int(row["Occurrences"]) for row in csv_rows(tmp_path / "locust_failures.csv")}
    assert any("body is not JSON" in error for error in errors)
    assert any("error: Expected one or two output Tensors" in error for error in errors)
    assert sum(errors.values()) == int(aggregated(tmp_path)["Failure Count"]) > 0


def test_failures_within_the_allowed_ratio_pass(tf_serving, tmp_path):
    server = tf_serving("--fail-every", "3")
    run = constant_load(server.url, tmp_path, "--max-failure-ratio", "0.5", seconds="2s")
    assert run.code == 0, run.stdout
    assert int(aggregated(tmp_path)["Failure Count"]) > 0


def test_model_options_and_another_image_change_the_request(tf_serving, tmp_path):
    server = tf_serving("--model-name", "resnet")
    image = tmp_path / "pixel.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    run = constant_load(
        server.url,
        tmp_path / "report",
        "--model-name",
        "resnet",
        "--model-version",
        "",
        "--signature",
        "serving_default",
        "--image",
        str(image),
        users=2,
        seconds="2s",
    )
    assert run.code == 0, run.stderr
    received = server.received()
    assert {item["path"] for item in received} == {"/v1/models/resnet:predict"}
    assert {item["signature"] for item in received} == {"serving_default"}
    assert {item["image_sha256"][0] for item in received} == {hashlib.sha256(image.read_bytes()).hexdigest()}


def test_predict_prints_the_top_five_labels(tf_serving):
    server = tf_serving()
    run = run_module("loadtest.predict", "--host", server.url)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"POST {server.url}{LAB_PATH}"
    assert [line.split(maxsplit=1)[1] for line in lines[1:]] == [
        "military uniform",
        "bow tie",
        "suit",
        "bearskin",
        "pickelhaube",
    ]
    assert lines[1].split()[0] == "80.00%"
    assert len(server.received()) == 1


def test_distributed_mode_spreads_users_over_processes_and_still_reports(tf_serving, tmp_path):
    server = tf_serving()
    run = constant_load(server.url, tmp_path, "--processes", "2", users=6, seconds="4s")
    assert run.code == 0, run.stderr
    assert "2 workers connected" in run.stderr
    assert "to 2 ready workers" in run.stderr
    total = aggregated(tmp_path)
    assert int(total["Request Count"]) == len(server.received()) - 1 > 10
    assert (tmp_path / "steps.csv").exists()
