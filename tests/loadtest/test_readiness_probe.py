"""The serving pods' readiness probe, run for real: the exact bash script the Deployment declares, against the
loopback TF Serving double: Ready means a real prediction has run, not just that the model loaded."""

import subprocess
import sys
from urllib.parse import urlparse

import pytest

from tests.cli import PROJECT_DIR


def probe_script(port: int, marker, server_stat) -> str:
    """The script as the Deployment carries it, with the pod's port, marker file and server process pointed at
    this test's."""
    code = (
        "from infra.serving_container import READINESS_SCRIPT as s, WARM_MARKER as m, SERVER_STAT as p; "
        "print(m); print(p); print(s)"
    )
    # In a child process: this one may have Locust's gevent patches, which the Pulumi SDK must not meet.
    script = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    original_marker, original_stat, text = script.split("\n", 2)
    return (
        text.replace("/dev/tcp/127.0.0.1/8501", f"/dev/tcp/127.0.0.1/{port}")
        .replace(original_marker, str(marker))
        .replace(original_stat, str(server_stat))
    )


def server_process(folder, started: int):
    """A /proc/<pid>/stat of a process started at `started` (clock ticks), its command name holding a space."""
    path = folder / f"stat-{started}"
    fields = ["S", "0", "1", "1", "0", "-1", "4194560"] + ["0"] * 12 + [str(started)] + ["0"] * 30
    path.write_text(f"1 (tensorflow mo) {' '.join(fields)}\n")
    return path


def run_probe(url: str, marker, model: str = "image_classifier", server_stat=None) -> int:
    port = urlparse(url).port
    assert port is not None
    script = probe_script(port, marker, server_stat or server_process(marker.parent, 4242))
    return subprocess.run(["bash", "-c", script], env={"MODEL_NAME": model}, capture_output=True, timeout=30).returncode


def test_the_first_probe_runs_a_real_prediction_and_later_ones_only_ask_for_metadata(tf_serving, tmp_path):
    server = tf_serving()
    marker = tmp_path / "warm"
    assert run_probe(server.url, marker) == 0
    assert marker.exists()
    (received,) = server.received()
    assert received["path"] == "/v1/models/image_classifier:predict"
    assert received["signature"] == "serving_preprocess"
    assert run_probe(server.url, marker) == 0
    assert len(server.received()) == 1, "once warm, the probe costs no prediction"


def test_a_failing_prediction_keeps_the_pod_unready(tf_serving, tmp_path):
    server = tf_serving("--predict-status", "500")
    marker = tmp_path / "warm"
    assert run_probe(server.url, marker) == 1
    assert not marker.exists()


def test_a_model_without_the_labs_signature_falls_back_to_its_metadata(tf_serving, tmp_path):
    server = tf_serving("--predict-status", "400")
    assert run_probe(server.url, tmp_path / "warm") == 0
    assert run_probe(server.url, tmp_path / "other", model="another_model") == 1, "no such model: not ready"


@pytest.mark.parametrize("port", [9])
def test_nothing_listening_is_not_ready(port, tmp_path):
    assert run_probe(f"http://127.0.0.1:{port}", tmp_path / "warm") == 1


def test_a_restarted_container_is_warmed_again_before_it_is_ready(tf_serving, tmp_path):
    """/tmp (an emptyDir) outlives a container restart; the marker of the old server process must not count."""
    server = tf_serving()
    marker = tmp_path / "warm"
    assert run_probe(server.url, marker, server_stat=server_process(tmp_path, 100)) == 0
    assert run_probe(server.url, marker, server_stat=server_process(tmp_path, 100)) == 0
    assert len(server.received()) == 1
    assert run_probe(server.url, marker, server_stat=server_process(tmp_path, 9000)) == 0
    assert [r["path"] for r in server.received()] == ["/v1/models/image_classifier:predict"] * 2
