"""localcluster/cloud.py: the model's timing of nodes and replicas, played against a record of the calls it makes
(a double of the Kubernetes API's CoreV1Api in memory)."""

# The Kubernetes client types every field Optional; here a missing one is a failing test all the same.
# pyright: reportOptionalMemberAccess=false, reportOptionalOperand=false

from __future__ import annotations

import datetime

import pytest
from kubernetes import client

from localcluster import cloud as cloud_module
from localcluster.autoscaler_model import Rules
from localcluster.cloud import Cloud, Delays, probe_ready
from localcluster.nodes import Pool, node_manifest
from localcluster.stages import READY_AT

SERVING = Pool("serving-pool", "n1-standard-4", 1, ("tfserving.dev/serving", "true"), 3, 1)
SERVING_LABELS = {"app.kubernetes.io/component": "model-server"}


class Core:
    """The calls Cloud makes, on a cluster kept in dicts."""

    def __init__(self) -> None:
        self.nodes: dict[str, client.V1Node] = {}
        self.pods: dict[str, client.V1Pod] = {}
        self.patches: dict[str, dict] = {}

    def list_node(self):
        return client.V1NodeList(items=list(self.nodes.values()))

    def list_pod_for_all_namespaces(self):
        return client.V1PodList(items=list(self.pods.values()))

    def create_node(self, node):
        self.nodes[node.metadata.name] = node

    def delete_node(self, name):
        del self.nodes[name]

    def delete_namespaced_pod(self, name, _namespace):
        del self.pods[name]

    def patch_namespaced_pod(self, name, _namespace, patch):
        self.patches[name] = patch
        self.pods[name].metadata.annotations = patch["metadata"]["annotations"]


@pytest.fixture
def core(monkeypatch) -> Core:
    fake = Core()
    monkeypatch.setattr(cloud_module.client, "CoreV1Api", lambda _api: fake)
    fake.create_node(node_manifest(SERVING, 0))
    return fake


def serving_pod(name: str, created: float, node: str | None = None, pending: bool = False) -> client.V1Pod:
    conditions = [client.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable")]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace="tfserving",
            labels=SERVING_LABELS,
            creation_timestamp=datetime.datetime.fromtimestamp(created, datetime.UTC),
        ),
        spec=client.V1PodSpec(
            node_name=node,
            node_selector={"cloud.google.com/gke-nodepool": "serving-pool"},
            tolerations=[client.V1Toleration(key="tfserving.dev/serving", value="true", effect="NoSchedule")],
            containers=[
                client.V1Container(
                    name="tf-serving",
                    image="tensorflow/serving:2.8.0",
                    resources=client.V1ResourceRequirements(requests={"cpu": "3", "memory": "4Gi"}),
                )
            ],
        ),
        status=client.V1PodStatus(conditions=conditions if pending else []),
    )


def started_cloud(core: Core, now: float, **rules: float) -> Cloud:
    model = Cloud(
        client.ApiClient(),
        [SERVING],
        Delays(node_boot=90, image_pull=30, model_load=20),
        SERVING_LABELS,
        Rules(**{"scan": 10.0, **rules}),
    )
    # As start() does, without the thread.
    model.nodes["serving-pool-0"] = cloud_module.NodeRecord("serving-pool", now, now)
    return model


@pytest.mark.parametrize(("load", "ready_after"), [(20, 20), (0, 10), (21, 30), (3, 10), (12, 20)])
def test_a_replica_is_ready_at_the_probes_first_try_after_its_model_loaded(load: float, ready_after: float) -> None:
    # Startup probe every 10 s from the start; readiness from 10 s, every 5 s, a try at or after the startup probe
    # passed (infra/serving_container.py).
    assert probe_ready(1000.0, load) - 1000.0 == ready_after


def test_a_pod_that_fits_a_node_as_it_is_gets_no_new_node(core: Core) -> None:
    model = started_cloud(core, 0.0)
    core.pods["new"] = serving_pod("new", created=0.0, pending=True)  # serving-pool-0 is empty: it fits there
    model.step(10.0)
    assert list(model.nodes) == ["serving-pool-0"]


def test_a_node_asked_for_registers_only_after_its_boot(core: Core) -> None:
    model = started_cloud(core, 0.0)
    core.pods["busy"] = serving_pod("busy", created=0.0, node="serving-pool-0")
    core.pods["new"] = serving_pod("new", created=0.0, pending=True)
    model.step(10.0)
    assert set(core.nodes) == {"serving-pool-0"}, "asked for, not registered while it boots"
    model.step(99.0)
    assert set(core.nodes) == {"serving-pool-0"}
    model.step(100.0)
    assert set(core.nodes) == {"serving-pool-0", "serving-pool-1"}
    assert model.nodes["serving-pool-1"].asked_at == 10.0 and model.nodes["serving-pool-1"].registered_at == 100.0


def test_what_a_replica_waited_for_is_recorded_and_which_of_it_was_injected(core: Core) -> None:
    model = started_cloud(core, 0.0)
    core.pods["busy"] = serving_pod("busy", created=0.0, node="serving-pool-0")
    core.pods["new"] = serving_pod("new", created=4.0, pending=True)
    model.step(10.0)  # the scan asks for a node
    model.step(100.0)  # it registers; the scheduler binds the pod
    core.pods["new"] = serving_pod("new", created=4.0, node="serving-pool-1")
    model.step(100.5)
    record = model.pods["new"]
    # Pulled by 130.5; the startup probe (tries at +0, +10, +20) finds the model loaded at +20, readiness too.
    assert record.ready_at == 130.5 + 20
    assert record.injected == {"node boot": 90.0, "image pull": 30.0, "model load": 20.0, "probes": 0.0}
    assert record.autoscaler_wait == 6.0, "from the pod's creation to the scan that asked for its node"
    annotations = core.patches["new"]["metadata"]["annotations"]
    assert annotations[READY_AT] == "1970-01-01T00:02:30.500000Z"


def test_an_unneeded_node_goes_after_the_unneeded_time_and_not_below_the_minimum(core: Core) -> None:
    model = started_cloud(core, 0.0, unneeded_time=600, delay_after_add=600)
    core.create_node(node_manifest(SERVING, 1))
    model.nodes["serving-pool-1"] = cloud_module.NodeRecord("serving-pool", 0.0, 0.0)
    core.pods["busy"] = serving_pod("busy", created=0.0, node="serving-pool-0")
    model.step(0.0)
    model.step(599.0)
    assert set(core.nodes) == {"serving-pool-0", "serving-pool-1"}
    model.step(610.0)
    assert set(core.nodes) == {"serving-pool-0"} and model.nodes["serving-pool-1"].removed_at == 610.0
    # The busy node holds a replica (77 % of it), and the pool is at its minimum: it stays.
    model.step(1300.0)
    assert set(core.nodes) == {"serving-pool-0"}
