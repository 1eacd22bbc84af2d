"""A short rehearsal on the real HPA, metrics-server, scheduler and control plane: with a spare node, the new
replica takes the placeholder's place at once, a node is added for the placeholder behind it, and the stack comes
back to rest; and a rehearsal stopped mid-run leaves no process and no folder behind."""

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
from loadtest.target import stack_settings
from localcluster.autoscaler_model import Rules
from localcluster.cloud import Delays
from localcluster.comparison import summarize
from localcluster.engine import REPO
from localcluster.load_model import LoadModel
from localcluster.rehearsal import Rehearsal, run_once

pytestmark = pytest.mark.timeout(600)
NODE_BOOT = 30.0


def test_a_spare_replica_serves_at_once_and_the_stack_scales_back_to_rest(tmp_path: Path) -> None:
    """What only the real components decide: the HPA's ask from metrics-server's numbers, the scheduler preempting
    the placeholder for the new replica, and the way back down; the injected delays are short, and not asserted."""
    plan = Rehearsal(
        # One step of 6 users at 0.5 CPU-s a request: 3.2 cores, about 105 % of one replica's 3-CPU request.
        model=LoadModel(StepLoad(steps=1, step_seconds=120, step_users=6, spawn_rate=6), cpu_seconds_per_request=0.5),
        delays=Delays(node_boot=NODE_BOOT, image_pull=2, model_load=3),
        interval=1.0,
        at_rest_within=300.0,
        # Kubernetes' and the autoscaler's scale-down waits, shortened so that the way back fits a test.
        rules=Rules(scan=5.0, unneeded_time=30.0, delay_after_add=30.0),
        controller_flags=("--horizontal-pod-autoscaler-downscale-stabilization=30s",),
    )
    preempted: list[str] = []

    def read_events(api: client.ApiClient) -> None:
        for event in client.CoreV1Api(api).list_namespaced_event("tfserving").items:
            if event.reason == "Preempted":
                preempted.append(event.involved_object.name or "")

    result = run_once("test", {**stack_settings("dev"), "spareReplicas": 1}, plan, tmp_path, read_events)

    # The HPA asked for a second replica, having read the CPU written for the first through metrics-server.
    assert result.rescales[0][1] == 2
    # Its status at that decision: the 3.2 cores written on the replica, 105 % of its 3-CPU request.
    at_ask = next(s for s in result.samples if s.hpa_desired_replicas >= 2)
    assert at_ask.hpa_cpu_utilization_percent is not None and 95 <= at_ask.hpa_cpu_utilization_percent <= 115
    # The scheduler preempted the placeholder for it; the placeholder made again went to a node added for it.
    assert preempted and all(name.startswith(PLACEHOLDER_NAME) for name in preempted), preempted
    added = {name for name, node in result.nodes.items() if node.asked_at >= result.load_started}
    spares = [record for name, record in result.pods.items() if name.startswith(PLACEHOLDER_NAME)]
    assert any(record.node in added for record in spares), (spares, added)
    # The new replica waited for no node: nothing injected but its model load and probes.
    (replica,) = summarize(result).replicas
    assert replica.ready_after is not None and replica.injected is not None
    assert replica.injected < NODE_BOOT
    # And back at rest: the HPA at its minimum, the node the second replica had removed by the model.
    assert [size for _, size in result.rescales] == [2, 1]
    assert summarize(result).at_rest_after is not None
    assert any(node.removed_at is not None for node in result.nodes.values())
    assert (tmp_path / "timeline.csv").is_file() and (tmp_path / "timeline.png").is_file()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith("rehearsal-")], "no control plane left"


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
            folder = line.split(" in ", 1)[1].split(" (removed")[0].strip()
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
    assert not Path(folder).exists(), "the control plane's folder is removed"


def _command_line(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
