"""The engine tests' helpers: the project's own tools run as a user's shell would, and waiting for an event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localcluster.engine import REPO, engine_env


def run_tool(home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` from the repository, seeing the engine's state as the user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, **engine_env(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Poll until `check()` returns something truthy, and return it; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout_s:.0f}s")
        time.sleep(0.25)
