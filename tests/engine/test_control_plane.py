"""`python -m localcluster` through its real CLI: it starts, says where it is, and stops every process it started,
on Ctrl+C, when a component dies, and when a start does not finish in time."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.engine import REPO

pytestmark = pytest.mark.timeout(180)
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def processes_of(folder: Path) -> dict[int, str]:
    """PID -> command of every process whose command line names this run's folder (ours, and no one else's)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in command and "localcluster --dir" not in command:
            found[int(proc.name)] = command.split(" ", 1)[0]
    return found


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    cli = subprocess.Popen(
        [sys.executable, "-m", "localcluster", "--dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert cli.stdout is not None
    lines = []
    # The CLI's own line, not a sleep, says the control plane is up.
    for line in cli.stdout:
        lines.append(line)
        if line.startswith("Ctrl+C stops it."):
            break
    assert lines and lines[-1].startswith("Ctrl+C"), "".join(lines) + (cli.stderr.read() if cli.stderr else "")
    yield cli, tmp_path
    if cli.poll() is None:
        cli.kill()
        cli.wait()


def test_it_says_where_it_is_and_ctrl_c_stops_every_process(started: tuple[subprocess.Popen[str], Path]) -> None:
    cli, folder = started
    names = sorted({Path(command).name for command in processes_of(folder).values()})
    assert names == sorted(COMPONENTS)
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert out.strip().splitlines()[-1] == "Stopped."
    assert processes_of(folder) == {}
    assert (folder / "kubeconfig.yaml").exists()


def test_a_component_that_dies_stops_the_rest_and_is_named(started: tuple[subprocess.Popen[str], Path]) -> None:
    cli, folder = started
    scheduler = next(pid for pid, command in processes_of(folder).items() if command.endswith("kube-scheduler"))
    subprocess.run(["kill", "-KILL", str(scheduler)], check=True)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 1
    assert err.strip().splitlines()[0].startswith("error: kube-scheduler exited with status -9; last lines of ")
    assert "Traceback" not in err
    assert processes_of(folder) == {}


def test_a_start_past_its_deadline_is_named_and_leaves_nothing_running(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "localcluster", "--dir", str(tmp_path), "--start-timeout", "0.01"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: etcd was not ready within 0.01s")
    assert "Traceback" not in run.stderr
    assert processes_of(tmp_path) == {}
