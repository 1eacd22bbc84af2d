"""localcluster/stages/: each kwok Stage file with its cases (tests/localcluster/stages/<stage>.yaml), run through
kwok's own selector rules (kwok_selector.py): every case object is played by exactly the stage it names, in both
the instant and the timed set, or by none; the engine tests then watch the real kwok play them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from localcluster.stages import READY_AT, stage_names, stages
from tests.localcluster.kwok_selector import plays

CASES_DIR = Path(__file__).resolve().parent / "stages"


def cases() -> list[tuple[str, dict]]:
    return [(path.stem, case) for path in sorted(CASES_DIR.glob("*.yaml")) for case in yaml.safe_load(path.read_text())]


def test_every_stage_has_its_cases_and_every_case_file_a_stage() -> None:
    assert stage_names() == sorted(path.stem for path in CASES_DIR.glob("*.yaml"))


@pytest.mark.parametrize(
    ("stage_file", "case"), cases(), ids=lambda value: value["case"] if isinstance(value, dict) else value
)
@pytest.mark.parametrize("mode", ["instant", "timed"])
def test_each_case_is_played_by_the_stage_it_names_and_no_other(stage_file: str, case: dict, mode: str) -> None:
    played = [stage["metadata"]["name"] for stage in stages(timed=mode == "timed") if plays(stage, case["object"])]
    expected = case["plays"][mode]
    assert played == ([expected] if expected else []), f"{stage_file}: {case['case']}"


def test_kwok_reads_back_every_stage_as_written() -> None:
    written = list(yaml.safe_load_all(yaml.safe_dump_all(stages(timed=True))))
    assert written == stages(timed=True)
    assert {stage["kind"] for stage in written} == {"Stage"}


def test_timed_stages_wait_for_ready_at_and_instant_ones_wait_for_nothing() -> None:
    timed = {stage["metadata"]["name"]: stage["spec"] for stage in stages(timed=True)}
    until = {"durationFrom": {"jq": {"expression": f'.metadata.annotations["{READY_AT}"]'}}}
    assert timed["node-ready"]["delay"] == timed["pod-running"]["delay"] == until
    assert all("delay" not in stage["spec"] or stage["metadata"]["name"] == "node-heartbeat" for stage in stages())
