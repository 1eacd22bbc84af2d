"""The project's command-line tools run as a user runs them: `python -m <module>` from the repository."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from tests.documented import PROJECT_DIR


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_module(module: str, *args: str, env: dict | None = None, timeout: float = 90) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return Run(result.returncode, result.stdout, result.stderr)
