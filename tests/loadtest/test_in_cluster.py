"""`python -m loadtest --in-cluster` against the loopback Kubernetes API double: the objects it creates,
each valid for Kubernetes, the reports it brings back, and the namespace deleted however the run ends."""

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kubernetes_validate
import locust
import pytest
from kubernetes_validate.utils import latest_version

from loadtest.incluster_objects import locust_image
from tests.cli import PROJECT_DIR, run_module
from tests.loadtest.conftest import SCRIPT, default_sigint, kubeconfig_for, path_with
from tests.stack_outputs import LOAD_GENERATOR

REPORTS = {
    "locust_stats.csv": "Type,Name,Request Count\nPOST,/v1/models/image_classifier/versions/1:predict,40\n",
    "report.html": "<html>Locust</html>",
    "verdict": "PASS: 40 requests, 0 failures (0.00%; allowed 1.00%), 8.0 rps, p50 60 ms, p95 90 ms, p99 95 ms\n",
}
# The load balancer's address, which the load balancer's source ranges keep from this machine: nothing answers.
UNREACHABLE_EXTERNAL_URL = "http://127.0.0.1:9"


@pytest.fixture
def cluster_with(start_double, tf_serving, tmp_path):
    """A stack whose outputs point at a TF Serving double and a Kubernetes double playing the given run."""

    def start(with_pool: bool = True, **behaviour):
        script, run = tmp_path / "script.json", tmp_path / "run.json"
        script.write_text(json.dumps(SCRIPT))
        run.write_text(json.dumps({"reports": REPORTS, "tf_serving": tf_serving().url, **behaviour}))
        api = start_double("kube_api_double", str(script), str(run))
        outputs = {
            "restUrl": UNREACHABLE_EXTERNAL_URL,
            "kubeconfig": Path(kubeconfig_for(api, tmp_path / "kubeconfig.json")).read_text(),
            **({"loadGenerator": LOAD_GENERATOR} if with_pool else {}),
        }
        pulumi = f"import json\nprint(json.dumps({outputs!r}))\n"
        return api, path_with(tmp_path, pulumi)

    return start


def recorded(api: str, what: str) -> list:
    import urllib.request

    with urllib.request.urlopen(f"{api}/_{what}", timeout=10) as response:
        return json.load(response)


def in_cluster(env, report_dir, *options):
    return run_module(
        "loadtest",
        "--in-cluster",
        "--workers",
        "2",
        "--steps",
        "1",
        "--step-time",
        "5",
        "--report-grace",
        "60",
        "--report-dir",
        str(report_dir),
        *options,
        env=env,
    )


def test_a_run_creates_valid_restricted_objects_brings_the_reports_back_and_deletes_them(cluster_with, tmp_path):
    api, env = cluster_with()
    report_dir = tmp_path / "report"
    run = in_cluster(env, report_dir)
    assert run.code == 0, run.stderr
    created = recorded(api, "created")
    kinds = ["Namespace", "ConfigMap", "Service", "Pod", "Deployment", "NetworkPolicy", "NetworkPolicy"]
    assert [o["kind"] for o in created] == kinds
    # Workers reach DNS, their master and the serving pods' port in the stack's namespace; the master DNS alone.
    master_policy, worker_policy = created[5]["spec"], created[6]["spec"]
    assert master_policy["policyTypes"] == ["Egress"] and len(master_policy["egress"]) == 1
    assert worker_policy["podSelector"]["matchLabels"] == created[4]["spec"]["template"]["metadata"]["labels"]
    to_serving = worker_policy["egress"][2]
    assert to_serving["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tfserving"}}}]
    assert to_serving["ports"] == [{"port": 8501, "protocol": "TCP"}]
    namespace = created[0]["metadata"]["name"]
    assert namespace.startswith("loadtest-")
    assert created[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for manifest in created:
        kubernetes_validate.validate(manifest, latest_version(), strict=True)
    package = created[1]
    assert package["data"]["locustfile.py"] == (PROJECT_DIR / "loadtest" / "locustfile.py").read_text()
    master, workers = created[3], created[4]
    assert workers["spec"]["replicas"] == 2
    for pod in (master["spec"], workers["spec"]["template"]["spec"]):
        (container,) = pod["containers"]
        assert container["image"] == f"locustio/locust:{locust.__version__}", "the Locust these tests run"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["tolerations"] == [
            {"key": "tfserving.dev/load-generator", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ]
        assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "load-pool"}
    master_script = master["spec"]["containers"][0]["command"][-1]
    assert "--host http://image-classifier.tfserving.svc.cluster.local:8501" in master_script
    assert "--expect-workers 2" in master_script and "--steps 1" in master_script
    assert (report_dir / "locust_stats.csv").read_text() == REPORTS["locust_stats.csv"]
    assert (report_dir / "report.html").exists() and not (report_dir / "verdict").exists()
    assert "step 1/1 done" in run.stdout, "the master's progress is streamed"
    # The preflight predicted from inside the cluster, through the API server, not from this machine.
    assert recorded(api, "predictions") == ["/v1/models/image_classifier/versions/1:predict"]
    assert "http://image-classifier.tfserving.svc.cluster.local:8501 (through the API server's proxy)" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == REPORTS["verdict"].strip()
    assert recorded(api, "deleted") == [namespace]


def test_a_failed_run_fails_and_still_deletes_everything(cluster_with, tmp_path):
    api, env = cluster_with(exit_code=1, reports={**REPORTS, "verdict": "FAIL: 40 requests, 9 failures\n"})
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert run.stdout.strip().splitlines()[-1] == "FAIL: 40 requests, 9 failures"
    assert recorded(api, "deleted") == [recorded(api, "created")[0]["metadata"]["name"]]


def test_an_account_that_may_not_create_namespaces_gets_one_line_and_no_bogus_cleanup(cluster_with, tmp_path):
    api, env = cluster_with(no_namespaces=True)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert "error: Cannot create Namespace loadtest-" in run.stderr
    assert "HTTP 403 Forbidden: namespaces is forbidden: cannot create" in run.stderr
    # Nothing was created, so nothing is deleted, and no one is told to delete a namespace that never existed.
    assert "Deleting namespace" not in run.stdout and "kubectl delete namespace" not in run.stderr
    assert run.stdout.strip().splitlines()[-1] == "FAIL: the in-cluster run could not complete (see the error above)"
    assert "Traceback" not in run.stderr
    assert recorded(api, "deleted") == []


def test_an_api_error_on_the_pod_list_fails_the_run_and_cleans_up(cluster_with, tmp_path):
    api, env = cluster_with(pods_status=500)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert "error: Cannot list the run's pods: HTTP 500 Internal Server Error: etcdserver: leader changed" in (
        run.stderr
    )
    assert run.stdout.strip().splitlines()[-1].startswith("FAIL: ")
    assert "Traceback" not in run.stderr
    assert recorded(api, "deleted") == [recorded(api, "created")[0]["metadata"]["name"]]


def test_an_image_too_large_for_a_config_map_is_refused_before_anything_is_created(cluster_with, tmp_path):
    api, env = cluster_with()
    large = tmp_path / "large.png"
    # A valid PNG header and 800 KB after it: over 1 MiB once base64'd beside the package.
    large.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(800 * 1024))
    run = in_cluster(env, tmp_path / "report", "--image", str(large))
    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: --image is 800 KiB; an in-cluster run ships it in a ConfigMap, which Kubernetes "
        "limits to 1 MiB, so the image may be at most "
    )
    assert recorded(api, "created") == []
    assert "answers:" not in run.stdout  # refused before the preflight prediction too


def test_a_master_whose_locust_failed_before_any_report_is_a_verdict_not_a_traceback(cluster_with, tmp_path):
    api, env = cluster_with(reports={}, exit_code=2)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 2
    assert run.stdout.strip().splitlines()[-1] == (
        "FAIL: Locust ended (exit status 2) without a verdict; see its messages above"
    )
    assert "Traceback" not in run.stderr
    assert recorded(api, "deleted") == [recorded(api, "created")[0]["metadata"]["name"]]


def test_reports_larger_than_a_log_rotation_come_back_whole_when_the_log_is_cut(cluster_with, tmp_path):
    """A kubelet rotates logs at 10 MiB and a follow may stop there: the reports do not travel in the log."""
    _, env = cluster_with(log_cut=True, large_report=11 * 1024 * 1024, reports_after=2)
    report_dir = tmp_path / "report"
    run = in_cluster(env, report_dir)
    assert run.code == 0, run.stderr
    history = (report_dir / "locust_stats_history.csv").read_bytes()
    assert len(history) > 11 * 1024 * 1024 and history.endswith(b"60,90\n")
    assert (report_dir / "locust_stats.csv").read_text() == REPORTS["locust_stats.csv"]
    assert run.stdout.strip().splitlines()[-1] == REPORTS["verdict"].strip()


def test_a_report_damaged_on_its_way_fails_the_run_and_names_the_file(cluster_with, tmp_path):
    api, env = cluster_with(damaged="report.html")
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert "error: Report file(s) came back damaged: report.html (9 of 19 bytes, or a different digest)" in (run.stderr)
    assert run.stdout.strip().splitlines()[-1].startswith("FAIL: ")
    assert recorded(api, "deleted")


def test_a_master_that_ends_without_serving_reports_fails_with_its_last_words(cluster_with, tmp_path):
    api, env = cluster_with(no_reports=True, master_phase="Succeeded")
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert "error: Locust's master ended without serving its reports: it exited." in run.stderr
    assert "Its last log lines:" in run.stderr and "step 1/1 done" in run.stderr
    assert recorded(api, "deleted")


def test_reports_that_never_come_end_the_run_after_the_grace(cluster_with, tmp_path):
    api, env = cluster_with(no_reports=True)
    run = in_cluster(env, tmp_path / "report", "--step-time", "1", "--report-grace", "2")
    assert run.code == 1
    assert (
        "error: Locust's master served no reports within 0 min, though the load should have ended by then; "
        "its pod is Running." in run.stderr
    )
    assert run.stdout.strip().splitlines()[-1].startswith("FAIL: ")
    assert recorded(api, "deleted")


def test_a_service_without_ready_pods_stops_the_run_before_anything_is_created(cluster_with, tmp_path):
    api, env = cluster_with(service_status=503)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "error: The model at http://image-classifier.tfserving.svc.cluster.local:8501 (through the API server's "
        "proxy)/v1/models/image_classifier/versions/1:predict does not predict: HTTP 503"
    )
    assert recorded(api, "created") == []


def test_a_master_that_cannot_start_stops_the_run_at_once_with_its_reason(cluster_with, tmp_path):
    message = f'Back-off pulling image "{locust_image()}": not found'
    api, env = cluster_with(master_waiting=["ImagePullBackOff", message])
    started = time.monotonic()
    run = in_cluster(env, tmp_path / "report", "--pending-timeout", "120")
    assert time.monotonic() - started < 60, "not after the whole --pending-timeout"
    assert run.code == 1
    assert f"error: Locust's master failed: ImagePullBackOff: {message}." in run.stderr
    assert "Its last log lines:" in run.stderr  # what the API had of its log
    assert run.stdout.strip().splitlines()[-1].startswith("FAIL: ")
    assert recorded(api, "deleted") == [recorded(api, "created")[0]["metadata"]["name"]]


def test_a_lost_worker_fails_the_run_and_says_so(cluster_with, tmp_path):
    api, env = cluster_with(lost_worker=True)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 1
    assert "the master lost 1 worker(s) during the run (locust-workers-1_abc)" in run.stderr
    assert recorded(api, "deleted")


def test_pending_workers_stop_the_run_with_the_reason(cluster_with, tmp_path):
    api, env = cluster_with(workers_phase="Pending", event="pod didn't trigger scale-up: 1 max node group size reached")
    run = in_cluster(env, tmp_path / "report", "--pending-timeout", "1")
    assert run.code == 1
    assert "2 Locust pod(s) still Pending after 1 s: Unschedulable: 0/2 nodes are available" in run.stderr
    assert "max node group size reached" in run.stderr
    assert "Traceback" not in run.stderr
    assert recorded(api, "deleted")


# Ctrl+C while the run follows the master's log, and while it asks the master for its reports.
STAGES = {
    "following the log": ({"hang": True}, lambda api: recorded(api, "log_follows")),
    "waiting for the reports": ({"no_reports": True}, lambda api: recorded(api, "manifest_reads")[0] > 0),
}


@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_deletes_everything_and_is_not_a_pass(cluster_with, tmp_path, stage):
    behaviour, reached = STAGES[stage]
    api, env = cluster_with(**behaviour)
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "--in-cluster", "--steps", "1", "--report-dir", str(tmp_path / "r")],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not reached(api):
        time.sleep(0.2)
    assert reached(api), f"the run never got to {stage}"
    assert len(recorded(api, "created")) == 7, "every object of the run, its two NetworkPolicies included"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stdout.strip().splitlines()[-1].startswith("INTERRUPTED: ")
    assert "Traceback" not in stderr
    assert recorded(api, "deleted") == [recorded(api, "created")[0]["metadata"]["name"]]


def test_a_stack_without_a_load_generator_pool_says_how_to_add_one(cluster_with, tmp_path):
    api, env = cluster_with(with_pool=False)
    run = in_cluster(env, tmp_path / "report")
    assert run.code == 2
    assert "has no load-generator pool: `pulumi config set loadGeneratorNodes 4`" in run.stderr
    assert recorded(api, "created") == []


@pytest.mark.parametrize("option", [["--host", "http://127.0.0.1:9"], ["--processes", "2"]])
def test_in_cluster_refuses_host_and_processes(option):
    run = run_module("loadtest", "--in-cluster", *option)
    assert run.code == 2 and "leave out --host and --processes" in run.stderr


def test_the_shipped_package_runs_as_a_real_master_and_worker(tf_serving, tmp_path):
    """What the pods run, run here: only the shipped modules, the master's exact script, its report server."""
    from loadtest import incluster_objects, model_api, report_server

    server = tf_serving()
    root, data, reports = tmp_path / "opt", tmp_path / "data", tmp_path / "reports"
    (root / "loadtest").mkdir(parents=True)
    data.mkdir()
    reports.mkdir()
    generator = incluster_objects.LoadGenerator(
        "load-pool", "k", "v", server.url, "image-classifier", "tfserving", 8501
    )
    objects = incluster_objects.manifests(
        "loadtest-test",
        generator,
        1,
        model_api.default_image(),
        ["--steps", "1", "--step-time", "3", "--step-users", "2", "--spawn-rate", "2"],
    )
    package = objects[1]
    for module, text in package["data"].items():
        (root / "loadtest" / module).write_text(text)
    (data / "image").write_bytes(base64.b64decode(package["binaryData"]["image"]))

    def local(command: str) -> str:
        # The data folder first: the package root is a prefix of its path.
        return (
            command.replace(incluster_objects.DATA_DIR, str(data))
            .replace(incluster_objects.PACKAGE_ROOT, str(root))
            .replace(incluster_objects.REPORTS_DIR, str(reports))
        )

    master_script = local(objects[3]["spec"]["containers"][0]["command"][-1])
    worker = [local(part) for part in objects[4]["spec"]["template"]["spec"]["containers"][0]["command"]]
    # Only the shipped modules on the path, as in the pod; the venv's own packages (Locust) as in the image.
    env = {**os.environ, "PYTHONPATH": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    port, report_port = str(free_port()), str(free_port())
    master_script = master_script.replace("--master ", f"--master --master-bind-port {port} ")
    master_script = master_script.replace(f"--port {incluster_objects.REPORT_PORT}", f"--port {report_port}")
    master = subprocess.Popen(
        ["/bin/sh", "-c", master_script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker[worker.index("--master-port") + 1] = port
    worker[worker.index("--master-host") + 1] = "127.0.0.1"
    workers = subprocess.Popen(worker, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    output: list[str] = []
    try:
        assert master.stdout is not None
        # Locust's progress, then the report server's announcement; the load takes 3 s.
        for line in master.stdout:
            output.append(line)
            if line.startswith(report_server.READY_MARK):
                break
        manifest = json.loads(fetch(f"http://127.0.0.1:{report_port}/{report_server.MANIFEST}"))
        files = {name: fetch(f"http://127.0.0.1:{report_port}/{name}") for name in manifest["files"]}
    finally:
        workers.terminate()
        master.terminate()
        workers.wait(timeout=30)
        master.wait(timeout=30)
    assert manifest["exitCode"] == 0, "".join(output)[-3000:]
    assert {"locust_stats.csv", "report.html", "steps.csv", "verdict"} <= set(files)
    for name, content in files.items():
        assert hashlib.sha256(content).hexdigest() == manifest["files"][name]["sha256"]
    assert files["verdict"].decode().startswith("PASS: ")
    assert len(server.received()) > 1, "the worker sent the lab's predictions"


def fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
