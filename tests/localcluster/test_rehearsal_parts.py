"""The rehearsal's pieces that need no control plane: the load-to-CPU schedule, the node autoscaler's
arithmetic, the stack's settings split between the pools and the stack, and the comparison table."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from infra.existing_settings import GKE_ONLY_SETTINGS
from loadtest.shape import StepLoad
from loadtest.timeline import Sample
from localcluster.cloud import Cloud, _fits_pool
from localcluster.comparison import summarize, table
from localcluster.load_model import LoadModel, cores_per_replica
from localcluster.nodes import Pool
from localcluster.rehearse import kubernetes_config, parse_change, pools, stack_values


def test_the_lab_load_ramps_at_the_spawn_rate_and_stops() -> None:
    model = LoadModel(StepLoad(steps=11, step_seconds=60, step_users=2, spawn_rate=1.0))
    assert model.users_at(0) == 0
    assert model.users_at(1.5) == 1.5
    assert model.users_at(30) == 2  # the step's 2 users are all running
    assert model.users_at(61) == 3  # the next 2 arrive at 1 per second
    assert model.users_at(659) == 22
    assert model.users_at(660) == 0
    # 22 users, one request each per 0.95 s, 0.1 CPU-s each: 2.3 cores, 77 % of one 3-CPU replica.
    assert model.cpu_cores(650) == pytest.approx(22 / 0.95 * 0.1)


def test_ready_replicas_share_the_cpu_up_to_their_node() -> None:
    assert cores_per_replica(4.0, 2, 3.92) == 2.0
    assert cores_per_replica(9.0, 2, 3.92) == 3.92
    assert cores_per_replica(4.0, 0, 3.92) == 0.0


def _pod(cpu: str, selector: dict | None = None, tolerates: str | None = None) -> client.V1Pod:
    tolerations = [client.V1Toleration(key=tolerates, operator="Equal", value="true", effect="NoSchedule")]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", resources=client.V1ResourceRequirements(requests={"cpu": cpu}))],
            node_selector=selector,
            tolerations=tolerations if tolerates else None,
        ),
    )


SERVING = Pool("serving-pool", "n1-standard-4", 1, ("tfserving.dev/serving", "true"), 3)


def test_a_pod_goes_to_a_pool_that_selects_tolerates_and_holds_it() -> None:
    placed = {"cloud.google.com/gke-nodepool": "serving-pool"}
    assert _fits_pool(_pod("3", placed, "tfserving.dev/serving"), SERVING)
    assert not _fits_pool(_pod("3", placed), SERVING)  # the taint is not tolerated
    assert not _fits_pool(_pod("3", {"cloud.google.com/gke-nodepool": "other"}, "tfserving.dev/serving"), SERVING)
    assert not _fits_pool(_pod("4", placed, "tfserving.dev/serving"), SERVING)  # 3.92 allocatable


def test_nodes_on_their_way_count_against_what_pending_pods_need() -> None:
    three = [_pod("3") for _ in range(3)]
    assert Cloud._nodes_needed(three, SERVING, booting=0) == 3  # one 3-CPU pod per 3.92-CPU node
    assert Cloud._nodes_needed(three, SERVING, booting=2) == 1
    assert Cloud._nodes_needed([_pod("1") for _ in range(3)], SERVING, booting=0) == 1


def test_the_stacks_gke_settings_shape_the_pools_and_the_rest_goes_to_the_stack(tmp_path: Path) -> None:
    values = stack_values("prod")
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
    values = stack_values("dev")
    assert parse_change("spareReplicas=1", values) == ("spareReplicas", "1")
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape("SETTING=VALUE with a setting of Pulumi.yaml")):
        parse_change("spare=1", values)


def _sample(t: float, desired: int, ready: int, nodes: int, cpu: int | None = 50) -> Sample:
    return Sample(t, desired, desired, cpu, 60, ready, ready, 0, "", nodes, nodes)


def test_the_table_says_how_long_each_new_replica_took_and_what_was_added() -> None:
    with_spare = [_sample(0, 0, 1, 2), _sample(5, 1, 1, 2, 70), _sample(10, 2, 1, 2, 70), _sample(35, 2, 2, 3)]
    without = [_sample(0, 1, 1, 1), _sample(10, 2, 1, 1, 80), _sample(130, 2, 1, 2, 80), _sample(160, 3, 2, 2)]
    runs = [summarize("dev, spareReplicas=1", with_spare), summarize("dev", without)]
    assert runs[0].asked_to_ready == (25.0,)  # replica 1 served before the watch: not a new one
    assert runs[1].asked_to_ready == (150.0, None)
    assert (runs[0].nodes_added, runs[1].nodes_added) == (1, 1)
    assert (runs[0].seconds_over_target, runs[1].seconds_over_target) == (30.0, 150.0)
    assert table(runs).splitlines()[2:] == [
        "| dev, spareReplicas=1 | 25 s | 1 | 30 s |",
        "| dev | 150 s, not ready while watched | 1 | 150 s |",
    ]


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
    run = subprocess.run(
        [sys.executable, "-m", "localcluster.rehearse", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert expected in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
