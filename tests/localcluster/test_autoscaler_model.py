"""localcluster/cloud.py: which pool takes a pending pod, and how many nodes it needs."""

from __future__ import annotations

from kubernetes import client

from localcluster.cloud import Cloud, fits_pool
from localcluster.nodes import Pool


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
    assert fits_pool(_pod("3", placed, "tfserving.dev/serving"), SERVING)
    assert not fits_pool(_pod("3", placed), SERVING)  # the taint is not tolerated
    assert not fits_pool(_pod("3", {"cloud.google.com/gke-nodepool": "other"}, "tfserving.dev/serving"), SERVING)
    assert not fits_pool(_pod("4", placed, "tfserving.dev/serving"), SERVING)  # 3.92 allocatable


def test_nodes_on_their_way_count_against_what_pending_pods_need() -> None:
    three = [_pod("3") for _ in range(3)]
    assert Cloud._nodes_needed(three, SERVING, booting=0) == 3  # one 3-CPU pod per 3.92-CPU node
    assert Cloud._nodes_needed(three, SERVING, booting=2) == 1
    assert Cloud._nodes_needed([_pod("1") for _ in range(3)], SERVING, booting=0) == 1
