"""A short rehearsal on the real HPA, scheduler and control plane: with a spare node, the new replica takes the
placeholder's place at once, and a node is added for the placeholder behind it."""

# The Kubernetes client types every field Optional; here a missing one is a failing test all the same.
# pyright: reportOptionalMemberAccess=false, reportOptionalIterable=false

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from infra.warm_capacity import PLACEHOLDER_NAME
from loadtest.shape import StepLoad
from localcluster.cloud import Delays
from localcluster.engine import REPO
from localcluster.load_model import LoadModel
from localcluster.rehearse import Rehearsal, run_once, stack_values

pytestmark = pytest.mark.timeout(400)
NODE_BOOT = 30.0


def test_a_spare_node_serves_the_new_replica_before_the_next_node_is_up(tmp_path: Path) -> None:
    # One step of 6 users at 0.5 CPU-s a request: about 3.2 cores, 105 % of one replica's 3 CPU, so the HPA asks
    # for a second at its first look. Short delays; the node boot is the one that must not be on the path.
    plan = Rehearsal(
        model=LoadModel(StepLoad(steps=1, step_seconds=50, step_users=6, spawn_rate=6), cpu_seconds_per_request=0.5),
        delays=Delays(node_boot=NODE_BOOT, image_pull=2, model_load=3, scan=5),
        interval=1.0,
        after_load=10.0,
    )
    preempted: list[str] = []

    def read_events(api: client.ApiClient) -> None:
        for event in client.CoreV1Api(api).list_namespaced_event("tfserving").items:
            if event.reason == "Preempted":
                preempted.append(event.involved_object.name or "")

    samples = run_once("test", {**stack_values("dev"), "spareReplicas": 1}, plan, tmp_path, read_events)

    assert preempted and all(name.startswith(PLACEHOLDER_NAME) for name in preempted), preempted
    first = samples[0]
    assert (first.ready_replicas, first.nodes) == (1, 2)  # the replica's node and the spare one
    second_ready = next(s.time for s in samples if s.ready_replicas >= 2)
    node_added = next(s.time for s in samples if s.nodes >= 3)
    node_ready = next(s.time for s in samples if s.ready_nodes >= 3)
    # A node is added for the evicted placeholder, and the replica did not wait for it.
    assert second_ready < node_ready
    assert node_ready - node_added >= NODE_BOOT - 2 * plan.interval
    assert (tmp_path / "timeline.csv").is_file() and (tmp_path / "timeline.png").is_file()


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_a_rehearsal_stopped_mid_run_stops_every_process_it_started(stop_with: int, tmp_path: Path) -> None:
    rehearsal = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcluster.rehearse",
            "--steps",
            "1",
            "--step-time",
            "300",
            "--node-boot",
            "1",
            "--image-pull",
            "1",
            "--model-load",
            "1",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert rehearsal.stdout is not None
    folder = None
    for line in rehearsal.stdout:  # the run's own lines, not a sleep, say where it is
        if "starting a local control plane in " in line:
            folder = line.rsplit(" in ", 1)[1].strip()
        if "load starts" in line:
            break
    assert folder, "the rehearsal never started its control plane"
    rehearsal.send_signal(stop_with)
    _, err = rehearsal.communicate(timeout=120)
    assert rehearsal.returncode == 130
    assert err.strip().splitlines()[-1] == "Interrupted: every process of the rehearsal was stopped."
    assert "Traceback" not in err
    leftovers = [proc.name for proc in Path("/proc").iterdir() if proc.name.isdigit() and folder in _command_line(proc)]
    assert leftovers == []


def _command_line(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
