"""`python -m localcluster [up]`: options it cannot use are refused in one line, before anything is built or started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["up", "spare=1"], "'spare=1': write it as SETTING=VALUE with a setting of Pulumi.yaml"),
        (["up", "--stack", "nope"], "--stack nope: there is no Pulumi.nope.yaml"),
        (["up", "--dir", "{used}"], "is not empty: give a new or empty folder for this run's data and logs"),
        (["--dir", "{used}"], "is not empty: give a new or empty folder"),
    ],
)
def test_a_bad_option_is_refused_in_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    (tmp_path / "etcd").mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "localcluster", *(arg.replace("{used}", str(tmp_path)) for arg in args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert expected in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr and "[1/4]" not in run.stdout
