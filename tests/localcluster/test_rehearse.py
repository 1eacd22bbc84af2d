"""localcluster/rehearse.py: the stack's settings split between the pools and the stack, and the CLI's refusals."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import pytest

from infra.existing_settings import GKE_ONLY_SETTINGS
from loadtest.shape import StepLoad
from loadtest.target import stack_settings
from loadtest.timeline import Sample
from localcluster.rehearsal import Phases, pools, resting_nodes
from localcluster.stack_settings import kubernetes_config, parse_change
from tests.cli import run_module


def test_the_stacks_gke_settings_shape_the_pools_and_the_rest_goes_to_the_stack(tmp_path: Path) -> None:
    values = stack_settings("prod")
    system, serving = pools(values)
    assert (serving.name, serving.machine_type, serving.nodes, serving.max_nodes) == (
        "serving-n2",
        "n2-standard-8",
        2,
        8,
    )
    assert system.nodes == 1
    stack = kubernetes_config(values, tmp_path / "kubeconfig")
    assert not set(stack) & set(GKE_ONLY_SETTINGS)
    assert (stack["spareReplicas"], stack["cpuRequest"], stack["gkeNodePools"]) == (1, "6", True)


def test_a_change_must_name_a_setting() -> None:
    values = stack_settings("dev")
    assert parse_change("spareReplicas=1", values) == ("spareReplicas", "1")
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape("SETTING=VALUE with a setting of Pulumi.yaml")):
        parse_change("spare=1", values)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--steps", "0"], "argument --steps: '0': give a number above zero"),
        (["--node-boot", "soon"], "argument --node-boot: 'soon' is not a number"),
        (["--stack", "nope"], "--stack nope: there is no Pulumi.nope.yaml"),
        (["--change", "spare=1"], "write it as SETTING=VALUE with a setting of Pulumi.yaml, e.g. spareReplicas=1"),
    ],
)
def test_bad_options_are_refused_in_one_line_before_anything_starts(args: list[str], expected: str) -> None:
    run = run_module("localcluster.rehearse", *args, timeout=60)
    assert run.code == 2
    assert expected in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr


def test_the_stack_at_rest_keeps_its_minimum_replicas_and_spares_on_the_fewest_nodes() -> None:
    dev = stack_settings("dev")
    (_, serving) = pools(dev)
    assert resting_nodes(dev, serving) == 1
    assert resting_nodes({**dev, "spareReplicas": 1}, serving) == 2, "one replica per n1-standard-4, one spare"
    small = {**dev, "cpuRequest": "1", "memoryRequest": "1Gi", "spareReplicas": 2}
    assert resting_nodes(small, serving) == 1, "three small pods on one node"


def test_the_console_gets_a_line_as_each_step_starts_and_when_the_load_is_over() -> None:
    said: list[str] = []
    load = StepLoad(steps=3, step_seconds=60, step_users=2)
    phases = Phases("dev", load, time.time() - 65, said.append)
    sample = Sample(0, 1, 1, 50, 60, 1, 1, 0, "", 2, 2)
    phases.announce([sample])
    phases.announce([sample])
    assert said == ["[dev] load step 2 of 3: 4 users (1 replica(s) Ready, 2 node(s))"], "once a step"
    phases.started -= 200
    phases.announce([])
    assert said[-1] == "[dev] load over; watching until back at rest (no sample yet)"
