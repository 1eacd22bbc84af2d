"""The in-cluster load generator's node pool: none by default, tainted, empty at rest."""

import pytest

from tests.infra.harness import EXTERNAL_IP, run_program, stack_config
from tests.stack_outputs import LOAD_GENERATOR

NODE_POOL = "gcp:container/nodePool:NodePool"


def test_the_lab_has_no_load_generator_pool(dev):
    assert {pool.name for pool in dev.of_type(NODE_POOL)} == {"gke-system-pool", "gke-pool"}
    assert "loadGenerator" not in dev.outputs


def test_the_pool_is_small_tainted_empty_at_rest_and_exported():
    deployment = run_program(stack_config("dev", loadGeneratorNodes=4))
    pool = deployment.named(NODE_POOL, "gke-load-pool")
    assert pool.inputs["name"] == "load-pool"
    assert pool.inputs["initialNodeCount"] == 0
    assert pool.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 4}
    assert pool.inputs["nodeConfig"]["machineType"] == "e2-standard-2"
    assert pool.inputs["nodeConfig"]["taints"] == [
        {"key": "tfserving.dev/load-generator", "value": "true", "effect": "NO_SCHEDULE"}
    ]
    assert pool.ignore_changes == ["initialNodeCount"]
    assert pool.urn in deployment.one("pulumi:providers:kubernetes").dependencies
    assert deployment.outputs["loadGenerator"] == LOAD_GENERATOR
    assert deployment.outputs["externalIp"] == EXTERNAL_IP
    # At rest the pool costs nothing; at full scale each node adds an e2-standard-2.
    cost = deployment.outputs["estimatedCostPerHour"]
    load_node = 0.067 + 30 * 0.10 / 730 + 0.005  # machine, 30 GB pd-balanced, an address
    assert cost["atRestUsd"] == 0.41
    assert cost["atFullScaleUsd"] == pytest.approx(0.903 + 4 * load_node, abs=0.001)
