"""The CLI finds its target from the stack or --host, and stops with a clear message when it cannot."""

import socket

from tests.cli import run_module
from tests.loadtest.conftest import path_with


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_without_host_or_pulumi_cli_it_says_to_pass_host(tmp_path):
    run = run_module("loadtest", env=path_with(tmp_path, None))
    assert run.code == 2
    assert "The Pulumi CLI is not on PATH" in run.stderr
    assert "pass --host http://<external-ip>:8501" in run.stderr


def test_in_cluster_without_pulumi_cli_says_to_install_it_not_to_pass_host(tmp_path):
    run = run_module("loadtest", "--in-cluster", env=path_with(tmp_path, None))
    assert run.code == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "error: The Pulumi CLI is not on PATH, so the stack's outputs cannot be read; "
        "install it (https://www.pulumi.com/docs/install/)."
    )


def test_the_stack_output_gives_the_host(tf_serving, tmp_path):
    server = tf_serving()
    script = (
        "import json, sys\n"
        "assert sys.argv[1:6] == ['stack', 'output', '--json', '--stack', 'staging'], sys.argv\n"
        f"print(json.dumps({{'restUrl': '{server.url}', 'externalIp': '127.0.0.1'}}))\n"
    )
    run = run_module("loadtest.predict", "--stack", "staging", env=path_with(tmp_path, script))
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"POST {server.url}/v1/models/image_classifier/versions/1:predict")


def test_a_missing_stack_is_reported_with_pulumis_message(tmp_path):
    script = "import sys\nsys.stderr.write(\"error: no stack named 'dev' found\\n\")\nsys.exit(255)\n"
    run = run_module("loadtest", env=path_with(tmp_path, script))
    assert run.code == 2
    assert "no stack named 'dev' found" in run.stderr
    assert "Deploy the stack first (`pulumi up`), choose another with --stack, or pass --host http://" in run.stderr


def test_a_stack_without_outputs_is_not_yet_deployed(tmp_path):
    run = run_module("loadtest", env=path_with(tmp_path, "print('{}')\n"))
    assert run.code == 2
    assert "Stack dev has no restUrl output yet" in run.stderr


def test_an_unreachable_host_fails_before_the_load(tmp_path):
    run = run_module("loadtest", "--host", f"http://127.0.0.1:{closed_port()}", "--report-dir", str(tmp_path / "r"))
    assert run.code == 2
    assert "Cannot reach http://127.0.0.1:" in run.stderr
    assert not (tmp_path / "r").exists(), "no report for a test that never started"


def test_a_model_that_does_not_answer_fails_with_the_servers_message(tf_serving):
    server = tf_serving("--model-name", "another_model")
    run = run_module("loadtest", "--host", server.url)
    assert run.code == 2
    assert "does not predict: HTTP 404: Servable not found for request" in run.stderr


def test_bad_arguments_are_refused_with_the_fix(tmp_path):
    image = tmp_path / "notes.txt"
    image.write_text("not an image")
    cases = [
        (["--users", "5"], "a constant load needs both --users N and --run-time TIME"),
        (["--users", "5", "--run-time", "20s", "--steps", "3"], "--steps shape a step load"),
        (["--users", "5", "--run-time", "soon"], "--run-time 'soon' is not a duration"),
        (["--steps", "0"], "argument --steps: '0': give a number above zero"),
        (["--step-time", "0"], "argument --step-time: '0': give a number above zero"),
        (["--step-users", "two"], "argument --step-users: 'two' is not a whole number"),
        (["--host", "34.1.2.3:8501"], "is not a URL; write it like http://34.1.2.3:8501"),
        (["--host", "http://127.0.0.1:1", "--image", str(image)], "not a JPEG or PNG file"),
        (["--host", "http://127.0.0.1:1", "--image", str(tmp_path / "none.jpg")], "no such file"),
    ]
    for args, message in cases:
        run = run_module("loadtest", *args)
        assert run.code == 2, args
        assert message in run.stderr, (args, run.stderr)


def test_help_explains_the_shapes_and_reports():
    run = run_module("loadtest", "--help")
    assert run.code == 0
    for text in ("--steps N", "--users N", "--run-time TIME", "--processes N", "steps.csv", "Exit status"):
        assert text in run.stdout
