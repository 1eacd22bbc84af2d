"""`python -m localcluster [up]`: options it cannot use are refused in one line, before anything is built or started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_module


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
    run = run_module("localcluster", *(arg.replace("{used}", str(tmp_path)) for arg in args), timeout=60)
    assert run.code == 2
    assert expected in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr and "[1/4]" not in run.stdout
