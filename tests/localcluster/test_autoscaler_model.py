"""localcluster/autoscaler_model.py: the model of cluster-autoscaler's decisions, one rule at a time."""

from __future__ import annotations

from kubernetes import client

from localcluster.autoscaler_model import (
    choose_scale_up,
    fits_pool,
    left_over,
    movable_elsewhere,
    nodes_needed,
    utilization,
    wants_scale_up,
)
from localcluster.nodes import Pool

SERVING = Pool("serving-pool", "n1-standard-4", 1, ("tfserving.dev/serving", "true"), 3)
BIG = Pool("serving-big", "n1-standard-8", 0, ("tfserving.dev/serving", "true"), 3)
PLACED = {"cloud.google.com/gke-nodepool": "serving-pool"}


def pod(
    cpu: str, selector: dict | None = None, tolerates: str | None = "tfserving.dev/serving", **status
) -> client.V1Pod:
    tolerations = [client.V1Toleration(key=tolerates, operator="Equal", value="true", effect="NoSchedule")]
    conditions = [client.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable")]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", resources=client.V1ResourceRequirements(requests={"cpu": cpu}))],
            node_selector=selector,
            tolerations=tolerations if tolerates else None,
            priority=status.pop("priority", 0),
        ),
        status=client.V1PodStatus(conditions=conditions, **status),
    )


def test_a_pod_goes_to_a_pool_that_selects_tolerates_and_holds_it() -> None:
    assert fits_pool(pod("3", PLACED), SERVING)
    assert not fits_pool(pod("3", PLACED, tolerates=None), SERVING)  # the taint is not tolerated
    assert not fits_pool(pod("3", {"cloud.google.com/gke-nodepool": "other"}), SERVING)
    assert not fits_pool(pod("4", PLACED), SERVING)  # 3.92 allocatable


def test_nominated_and_expendable_pods_are_not_scaled_for() -> None:
    assert wants_scale_up(pod("3"))
    # The scheduler nominated it to a node by preemption: it will fit once its victims go.
    assert not wants_scale_up(pod("3", nominated_node_name="serving-pool-0"))
    # The expendable-pods cutoff is -10: pods below it are ignored, the placeholders at -10 are not.
    assert wants_scale_up(pod("3", priority=-10))
    assert not wants_scale_up(pod("3", priority=-11))


def test_nodes_on_their_way_count_against_what_pending_pods_need() -> None:
    three = [pod("3") for _ in range(3)]
    assert nodes_needed(three, SERVING, upcoming=0) == 3  # one 3-CPU pod per 3.92-CPU node
    assert nodes_needed(three, SERVING, upcoming=2) == 1
    assert nodes_needed([pod("1") for _ in range(3)], SERVING, upcoming=0) == 1


def test_one_pool_per_loop_the_one_that_wastes_least() -> None:
    # Two 3-CPU pods: two n1-standard-4 leave 1.84 CPU unused, one n1-standard-8 (7.91) leaves 1.91 and more memory.
    pending = [pod("3"), pod("3")]
    chosen = choose_scale_up(pending, [BIG, SERVING], {"serving-pool": 1, "serving-big": 0}, {})
    assert chosen is not None and (chosen[0].name, chosen[1]) == ("serving-pool", 2)
    # A pool at its maximum is no option; nodes already asked for are not asked again.
    assert choose_scale_up(pending, [SERVING], {"serving-pool": 3}, {}) is None
    assert choose_scale_up(pending, [SERVING], {"serving-pool": 3}, {"serving-pool": 2}) is None


def test_a_node_is_unneeded_below_half_use_only_if_its_pods_fit_elsewhere() -> None:
    assert utilization([pod("1")], SERVING) < 0.5 < utilization([pod("3")], SERVING)
    room = {"serving-pool-1": (SERVING, 3.92, 12e9)}
    assert movable_elsewhere([pod("1", PLACED)], room)
    assert not movable_elsewhere([pod("1", PLACED)], {"serving-pool-1": (SERVING, 0.5, 12e9)})
    assert not movable_elsewhere([pod("1", PLACED, tolerates=None)], room)


def test_a_pod_that_fits_a_node_as_it_is_is_not_scaled_for() -> None:
    # A node just registered, before the scheduler bound the pending pod to it: no second node for that pod.
    fresh = {"serving-pool-1": (SERVING, 3.92, 12e9)}
    assert left_over([pod("3", PLACED)], fresh) == []
    two = [pod("3", PLACED), pod("3", PLACED)]
    assert len(left_over(two, fresh)) == 1, "room for one of them only"
