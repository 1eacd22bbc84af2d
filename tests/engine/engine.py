"""The engine tests' way to run the project's own tools, seeing the engine's state as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
