"""localcluster/comparison.py: each new replica's wait split into what Kubernetes, the autoscaler model and the
injected delays took; node-hours and their cost; the table."""

from __future__ import annotations

import dataclasses

from loadtest.shape import StepLoad
from loadtest.timeline import Sample
from localcluster.cloud import NodeRecord, PodRecord
from localcluster.comparison import needed_at, new_replicas, node_hours_and_cost, summarize, table
from localcluster.load_model import LoadModel
from localcluster.nodes import Pool
from localcluster.rehearsal import RunResult

POOLS = [Pool("system-pool", "e2-standard-2", 1, None, 2, 1), Pool("serving-pool", "n1-standard-4", 1, None, 3, 1)]


def sample(t: float, desired: int, ready: int, nodes: int, cpu: int = 50) -> Sample:
    return Sample(t, desired, desired, cpu, 60, ready, ready, 0, "", nodes, nodes)


def run(**changes) -> RunResult:
    """A run whose load starts at 1000 and lasts 600 s; one replica asked for at 1100 got a new node."""
    base = dict(
        label="dev",
        samples=[sample(1000, 1, 1, 1), sample(1100, 2, 1, 1, 80), sample(1300, 2, 2, 2, 55), sample(2400, 1, 1, 1)],
        load_started=1000.0,
        load_seconds=600.0,
        ended=2400.0,
        pools=POOLS,
        nodes={
            "system-pool-0": NodeRecord("system-pool", 900.0, 900.0),
            "serving-pool-0": NodeRecord("serving-pool", 900.0, 900.0),
            "serving-pool-1": NodeRecord("serving-pool", 1110.0, 1200.0, removed_at=2300.0),
        },
        pods={
            "image-classifier-a": PodRecord(
                "serving-pool-1",
                1102.0,
                1280.0,
                {"node boot": 90.0, "image pull": 30.0, "model load": 20.0, "probes": 0.0},
                8.0,
            ),
        },
        rescales=[(1100.0, 2), (2100.0, 1)],
        min_replicas=1,
        resting_nodes=1,
    )
    return RunResult(**{**base, **changes})


def test_a_new_replicas_wait_is_kubernetes_plus_the_model_plus_what_was_injected() -> None:
    (replica,) = new_replicas(run())
    assert replica.asked_at == 100.0
    assert replica.ready_after == 180.0
    assert (replica.kubernetes, replica.autoscaler_model, replica.injected) == (32.0, 8.0, 140.0)
    assert (replica.kubernetes or 0) + (replica.autoscaler_model or 0) + (replica.injected or 0) == replica.ready_after


def test_a_replica_not_ready_while_watched_says_so() -> None:
    (replica,) = new_replicas(run(pods={}))
    assert (replica.asked_at, replica.ready_after, replica.injected) == (100.0, None, None)


def test_every_node_is_billed_from_its_ask_to_its_removal_at_its_list_price() -> None:
    hours, cost = node_hours_and_cost(run())
    # From the load's start: the system and first serving node for 1400 s, the added one from 1110 to 2300.
    assert hours == (1400 + 1400 + 1190) / 3600
    assert cost == (1400 * 0.067 + 1400 * 0.19 + 1190 * 0.19) / 3600


def test_the_table_shows_each_part_and_when_the_stack_was_back_at_rest() -> None:
    summary = summarize(run())
    assert (summary.nodes_added, summary.nodes_removed, summary.seconds_over_target) == (1, 1, 200.0)
    assert summary.at_rest_after == 800.0
    assert table([summary]).splitlines()[2] == (
        "| dev | asked at 100 s: 180 s = 32 + 8 + 140 | 1, 1 | 200 s | 800 s | 1.11 | $0.163 |"
    )


def test_a_watch_too_short_for_scale_down_says_so_instead_of_none_removed() -> None:
    summary = dataclasses.replace(summarize(run()), nodes_removed=0, at_rest_after=None)
    row = table([summary]).splitlines()[2]
    assert "| 1, none within the watch (a node goes after 10 min unneeded) |" in row
    assert "| not within the watch |" in row


def test_the_hpas_reaction_runs_from_when_the_load_needed_a_replica_to_its_ask() -> None:
    # 4, 8, 12 users at 0.2 CPU-s and one request a second each: 0.8, 1.6, 2.4 cores. One replica takes 3 CPUs
    # x 60 % x 1.1 = 1.98 cores before the HPA moves, so the load needed a second one at 91 s, 9 s before the ask.
    model = LoadModel(StepLoad(steps=4, step_seconds=45, step_users=4, spawn_rate=10), 0.2, 1.0)
    assert needed_at(model, 3.0, 60, 1, after=0.0) == 91.0
    assert needed_at(model, 3.0, 60, 4, after=0.0) is None, "four replicas take the whole load"
    (replica,) = new_replicas(run(model=model, request_cores=3.0))
    assert replica.reaction == 9.0
    assert "asked at 100 s (9 s after the load needed it): 180 s" in table(
        [summarize(run(model=model, request_cores=3.0))]
    )
