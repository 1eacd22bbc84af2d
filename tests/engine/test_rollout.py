"""A rollout on a full serving pool, on Kubernetes' own Deployment controller and scheduler: the program's strategy
completes, where Kubernetes' default (25 % / 25 %) leaves the new pod Pending and the rollout stuck.

The Deployment is the serving pods' shape (the lab's 3-CPU request, one per n1-standard-4 node, the serving pool's
selector and taint), at a full pool: as many replicas as the pool has nodes, and the HPA's maxReplicas beyond them.
"""

# pyright: reportOptionalMemberAccess=false, reportOptionalSubscript=false, reportOptionalIterable=false

from __future__ import annotations

import re

import pytest
from kubernetes import client, utils

from infra.node_fit import serving_slots
from infra.node_pools import NODE_POOL_LABEL, SERVING_TAINT_KEY, SERVING_TAINT_VALUE
from infra.rollout import rollout_max_unavailable
from infra.settings import project_defaults
from tests.engine.support import wait_for

pytestmark = pytest.mark.timeout(300)
DEFAULTS = project_defaults()
NODES = int(str(DEFAULTS["maxNodes"]))
MAX_REPLICAS = int(str(DEFAULTS["maxReplicas"]))


def deployment(name: str, strategy: dict | None, replicas: int = NODES) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            **({"strategy": strategy} if strategy else {}),
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {NODE_POOL_LABEL: str(DEFAULTS["nodePoolName"])},
                    "tolerations": [
                        {
                            "key": SERVING_TAINT_KEY,
                            "operator": "Equal",
                            "value": SERVING_TAINT_VALUE,
                            "effect": "NoSchedule",
                        }
                    ],
                    "containers": [
                        {
                            "name": "tf-serving",
                            "image": "tensorflow/serving:2.8.0",
                            "resources": {
                                "requests": {
                                    "cpu": str(DEFAULTS["cpuRequest"]),
                                    "memory": str(DEFAULTS["memoryRequest"]),
                                }
                            },
                        }
                    ],
                },
            },
        },
    }


def programs_strategy() -> dict:
    slots = serving_slots(
        str(DEFAULTS["machineType"]), NODES, str(DEFAULTS["cpuRequest"]), str(DEFAULTS["memoryRequest"]), gpu=False
    )
    assert slots is not None and slots == NODES, "one replica per serving node: full at maxNodes replicas"
    max_unavailable = rollout_max_unavailable(MAX_REPLICAS, slots)
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": max_unavailable}}


@pytest.fixture
def apps(kube: client.ApiClient, request: pytest.FixtureRequest):
    # Unique per test and parameter: a namespace that is still terminating cannot be made again.
    namespace = "rollout-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-50:]
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    yield client.AppsV1Api(kube), core, namespace
    core.delete_namespace(namespace)
    wait_for(f"namespace {namespace} to go", lambda: not core.list_namespaced_pod(namespace).items, 120)


def roll(apps_api: client.AppsV1Api, namespace: str, manifest: dict) -> None:
    """Deploy on the full pool, wait for every replica the pool holds to run, then change the pod template."""
    name = manifest["metadata"]["name"]
    utils.create_from_dict(apps_api.api_client, manifest, namespace=namespace)
    wait_for(
        "the pool full of ready replicas",
        lambda: apps_api.read_namespaced_deployment(name, namespace).status.ready_replicas == NODES,
        90,
    )
    patch = {"spec": {"template": {"metadata": {"annotations": {"tfserving.dev/config-hash": "new"}}}}}
    apps_api.patch_namespaced_deployment(name, namespace, patch)


@pytest.mark.parametrize("replicas", [NODES, MAX_REPLICAS])
def test_the_programs_strategy_completes_a_rollout_on_a_full_pool(apps, replicas: int) -> None:
    """As many replicas as slots, and the HPA's most: maxReplicas on a pool of fewer slots, the rest Pending."""
    apps_api, _, namespace = apps
    roll(apps_api, namespace, deployment("serving", programs_strategy(), replicas))

    def rolled_out() -> bool:
        status = apps_api.read_namespaced_deployment("serving", namespace).status
        # Every pod of the new template, the pool full of them, no old pod left.
        return status.updated_replicas == replicas == status.replicas and status.ready_replicas == NODES

    wait_for("the rollout to complete", rolled_out, 90)


def test_kubernetes_default_strategy_leaves_the_new_pod_pending_on_a_full_pool(apps) -> None:
    """Why the program sets one: the surge pod finds no node, and no old pod may go first."""
    apps_api, core, namespace = apps
    roll(apps_api, namespace, deployment("serving", None))

    def unschedulable_pod() -> bool:
        return any(
            condition.reason == "Unschedulable"
            for pod in core.list_namespaced_pod(namespace).items
            for condition in (pod.status.conditions or [])
        )

    wait_for("a new pod to be unschedulable", unschedulable_pod, 90)
    status = apps_api.read_namespaced_deployment("serving", namespace).status
    assert (status.updated_replicas or 0) < NODES and status.ready_replicas == NODES
