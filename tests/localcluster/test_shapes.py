"""The simulated nodes take the stack's shapes, and kwok gets a stage for every step it must play."""

from __future__ import annotations

from infra.node_pools import LOAD_POOL_NAME, SERVING_TAINT_KEY, SYSTEM_POOL_NAME
from infra.settings import project_defaults
from localcluster.nodes import allocatable, node_manifest, stack_pools


def test_nodes_offer_what_gke_leaves_to_pods() -> None:
    # GKE's allocatable tables: 4 vCPU keep 80m, 15 GiB keep 2.55 GiB plus the 100 MiB eviction threshold.
    assert allocatable("n1-standard-4", 100) == {
        "cpu": "3920m",
        "memory": "12700Mi",
        "ephemeral-storage": "47060071478",
        "pods": "110",
    }
    assert allocatable("e2-medium")["cpu"] == "940m"
    # The system and load pools' 30 GB disks hold the few GiB their pods request.
    assert int(allocatable("e2-standard-2")["ephemeral-storage"]) > 10 * 2**30


def test_the_pools_are_the_stacks_at_their_largest() -> None:
    pools = {pool.name: pool for pool in stack_pools()}
    defaults = project_defaults()
    serving = pools[str(defaults["nodePoolName"])]
    assert (serving.machine_type, serving.nodes) == (defaults["machineType"], defaults["maxNodes"])
    assert serving.disk_gb == defaults["diskSizeGb"]
    assert serving.taint is not None and serving.taint[0] == SERVING_TAINT_KEY
    assert pools[SYSTEM_POOL_NAME].taint is None
    assert pools[LOAD_POOL_NAME].taint is not None
    node = node_manifest(serving, 0)
    assert node.metadata is not None and node.metadata.labels is not None
    assert node.metadata.labels["cloud.google.com/gke-nodepool"] == serving.name
    assert node.metadata.annotations == {
        "kwok.x-k8s.io/node": "fake",
        # Where metrics-server reads the node's resource metrics: kwok's Metric path for this node.
        "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{serving.name}-0/metrics/resource",
    }
