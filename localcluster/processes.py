"""One process of the local control plane: started in a session of its own with its log in a file, checked
for life, and stopped by its own PID (SIGTERM, then SIGKILL after a grace)."""

from __future__ import annotations

import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 10.0
TAIL_LINES = 15


class ControlPlaneError(RuntimeError):
    """A component did not start or answer in time; the message names it and quotes its log."""


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Component:
    name: str
    args: list[str]
    log: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            # A session of its own: a Ctrl+C in the terminal reaches us, and we stop it in order.
            self.process = subprocess.Popen(
                self.args,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env,
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with status {self.process.returncode}; last lines of {self.log}:\n{tail(self.log)}"
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
