"""`python -m localcluster up`, run as a newcomer runs it: the stack comes up on a control plane of its own, the
watcher it suggests works against it, and Ctrl+C destroys the stack and leaves no process or folder behind."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from localcluster.engine import REPO
from localcluster.first_run import READY

UP_WITHIN_SECONDS = 300.0
DOWN_WITHIN_SECONDS = 180.0


class Lines:
    """A process's output, line by line, read in a thread so that waiting for a line has a deadline."""

    def __init__(self, process: subprocess.Popen[str]):
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [*map(self._queue.put, stdout), self._queue.put(None)], daemon=True).start()

    def until(self, prefix: str, within: float) -> str:
        while True:
            try:
                line = self._queue.get(timeout=within)
            except queue.Empty:
                pytest.fail(f"no line starting {prefix!r} within {within:.0f} s; so far:\n{''.join(self.seen)}")
            if line is None:
                pytest.fail(f"the command ended before {prefix!r}; its output:\n{''.join(self.seen)}")
            self.seen.append(line)
            if line.strip().startswith(prefix):
                return line.strip()


def printed_outputs(lines: list[str]) -> dict[str, object]:
    start = lines.index("Outputs:\n") + 1
    outputs = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        key, _, value = line.strip().partition(": ")
        outputs[key] = json.loads(value)
    return outputs


def processes_of(folder: Path) -> list[str]:
    """Processes whose command line or TMPDIR names `folder`: the control plane's, and the engine's plugins."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(folder) in command or str(folder) in (process.info["environ"] or {}).get("TMPDIR", ""):
            found.append(command)
    return found


def test_up_serves_the_stack_until_ctrl_c_then_leaves_nothing(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = subprocess.Popen(
        [sys.executable, "-m", "localcluster", "up"],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = Lines(command)
        ready = lines.until(READY, UP_WITHIN_SECONDS)
        assert "stack existing is up" in ready
        outputs = printed_outputs(lines.seen)
        assert (outputs["namespace"], outputs["deploymentName"]) == ("tfserving", "image-classifier")
        created = next(int(line.split()[0]) for line in lines.seen if line.strip().endswith("resources created"))
        assert created >= 10

        # The watcher as printed, shortened, into this test's folder.
        watch = shlex.split(next(line for line in lines.seen if "-m loadtest.watch" in line))
        watch[watch.index("--duration") + 1] = "6"
        watch[watch.index("--report-dir") + 1] = str(tmp_path / "watch")
        watch += ["--interval", "2"]
        watched = subprocess.run(
            [sys.executable, *watch[1:]], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
        assert watched.returncode == 0, watched.stderr
        assert "ready 1, pending 0" in watched.stderr, "the watcher sees the stack's replica"
        assert (tmp_path / "watch" / "timeline.csv").is_file()

        command.send_signal(signal.SIGINT)
        gone = lines.until("Stopped:", DOWN_WITHIN_SECONDS)
        assert "every process" in gone
        assert command.wait(timeout=60) == 0
    finally:
        # A failed test still stops the command as a user would, so that it stops its control plane.
        if command.poll() is None:
            command.send_signal(signal.SIGINT)
            try:
                command.wait(timeout=DOWN_WITHIN_SECONDS)
            except subprocess.TimeoutExpired:
                command.kill()
    deleted = next(line for line in lines.seen if "resources deleted" in line).split()
    assert int(deleted[0]) == created, "destroy deleted what up created"
    assert "no object of stack existing is left" in " ".join(deleted)
    assert list(scratch.iterdir()) == [], "no temporary folder or file is left"
    assert processes_of(scratch) == []
