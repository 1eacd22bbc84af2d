"""The stack in the situations a platform team puts it in, on the real engine, provider and controllers: changes
while it serves several replicas, a full pool, a namespace someone else already has, another stack beside it,
another team's pods on the nodes, and another team's objects in its namespace when it is destroyed.

Every stack here is the existing-cluster example pointed at the session's control plane (three n1-standard-4
serving nodes, one e2-standard-2 system node, two tainted load-generator nodes).
"""

# The Kubernetes client types every field Optional; here a missing one is a failing test all the same.
# pyright: reportOptionalMemberAccess=false, reportOptionalSubscript=false, reportOptionalIterable=false

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, utils
from pulumi import automation as auto

from infra.serving import APP_NAME
from infra.warm_capacity import PLACEHOLDER_NAME, placeholder_priority_class, serving_priority_class
from localcluster.controlplane import ControlPlane
from localcluster.engine import REPO, make_stack, printer
from tests.engine.support import wait_for

pytestmark = pytest.mark.timeout(420)
NEW_MODEL = "gs://spls/gsp777/resnet_101_v2"
StackMaker = Callable[..., auto.Stack]


@pytest.fixture(scope="module")
def stacks(control_plane: ControlPlane, engine_home: Path) -> Iterator[StackMaker]:
    """Makes stacks of the existing-cluster example, each in a namespace of its name; destroys what is left."""
    example = yaml.safe_load((REPO / "Pulumi.existing.yaml").read_text())["config"]
    made: list[auto.Stack] = []

    def make(name: str, **settings: object) -> auto.Stack:
        config = {**example, "tfserving-gke:kubeconfig": str(control_plane.kubeconfig), "namespace": name, **settings}
        made.append(make_stack(name, engine_home, config))
        return made[-1]

    yield make
    for stack in made:
        if len(stack.export_stack().deployment.get("resources") or []) > 1:
            stack.destroy(on_output=printer(f"destroy {stack.name}"))


def deployment(kube: client.ApiClient, namespace: str) -> client.V1Deployment:
    return client.AppsV1Api(kube).read_namespaced_deployment(APP_NAME, namespace)


def scale(kube: client.ApiClient, namespace: str, replicas: int, ready: int | None = None) -> None:
    """What the HPA does under load, through the same API; wait until `ready` of them serve."""
    client.AppsV1Api(kube).patch_namespaced_deployment_scale(APP_NAME, namespace, {"spec": {"replicas": replicas}})
    wait_for(
        f"{ready or replicas} ready replicas in {namespace}",
        lambda: deployment(kube, namespace).status.ready_replicas == (ready or replicas),
    )


class ReadyWatch:
    """The fewest Ready replicas seen while something runs, sampled from the API as fast as it answers."""

    def __init__(self, kube: client.ApiClient, namespace: str) -> None:
        self.kube, self.namespace, self.fewest = kube, namespace, 10**6
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.fewest = min(self.fewest, deployment(self.kube, self.namespace).status.ready_replicas or 0)

    def __enter__(self) -> ReadyWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_a_new_model_and_a_server_setting_roll_the_same_deployment_keeping_its_replicas(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    """A roll, not a replacement: the same object (UID), the HPA's 3 replicas kept, never more than maxUnavailable
    (50 % of 3, rounded down: 1) of them down at once, on a pool full with them."""
    stack = stacks("rolls", gkeNodePools=True)
    stack.up(on_output=printer("up rolls"))
    scale(kube, "rolls", 3)
    uid = deployment(kube, "rolls").metadata.uid
    for key, value in (("modelSource", NEW_MODEL), ("serverBatching", "true")):
        stack.set_config(f"tfserving-gke:{key}", auto.ConfigValue(value))
        with ReadyWatch(kube, "rolls") as watch:
            stack.up(on_output=printer(f"up rolls {key}"))
        rolled = deployment(kube, "rolls")
        assert rolled.metadata.uid == uid, f"{key}: the Deployment was replaced, not rolled"
        assert (rolled.spec.replicas, rolled.status.updated_replicas, rolled.status.ready_replicas) == (3, 3, 3)
        assert watch.fewest >= 3 - 1, f"{key}: {watch.fewest} Ready during the roll"
    stack.destroy(on_output=printer("destroy rolls"))


def test_a_change_completes_while_the_hpa_holds_more_replicas_than_the_pool_has_slots(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    """The lab's maxReplicas 4 on 3 nodes: one replica Pending for good. The roll still finishes, and `up` with it."""
    stack = stacks("overfull", gkeNodePools=True)
    stack.up(on_output=printer("up overfull"))
    scale(kube, "overfull", 4, ready=3)
    uid = deployment(kube, "overfull").metadata.uid
    stack.set_config("tfserving-gke:modelSource", auto.ConfigValue(NEW_MODEL))
    stack.up(on_output=printer("up overfull"))
    rolled = deployment(kube, "overfull")
    assert rolled.metadata.uid == uid
    assert (rolled.status.replicas, rolled.status.updated_replicas, rolled.status.ready_replicas) == (4, 4, 3)
    stack.destroy(on_output=printer("destroy overfull"))


def test_a_namespace_someone_else_has_is_refused_and_left_as_it_was(stacks: StackMaker, kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="payments")))
    core.create_namespaced_config_map("payments", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="ledger")))
    stack = stacks("payments")
    with pytest.raises(auto.CommandError) as refused:
        stack.up(on_output=printer("up payments"))
    assert "namespace payments already exists in the cluster, made by someone else, not by stack 'payments'" in str(
        refused.value
    )
    kept = [resource["type"] for resource in stack.export_stack().deployment.get("resources") or []]
    assert kept == ["pulumi:pulumi:Stack"], "nothing was created"
    assert core.read_namespaced_config_map("ledger", "payments").metadata.name == "ledger"
    assert not (core.read_namespace("payments").metadata.labels or {}).get("app.kubernetes.io/instance")
    core.delete_namespace("payments")


def test_destroy_keeps_a_namespace_holding_another_teams_objects_and_says_so(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube)
    stack = stacks("guarded", gkeNodePools=True)
    stack.up(on_output=printer("up guarded"))
    core.create_namespaced_config_map("guarded", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="notes")))
    with pytest.raises(auto.CommandError) as kept:
        stack.destroy(on_output=printer("destroy guarded"))
    assert "Namespace guarded stays: it holds objects this stack did not make (configmaps/notes)" in str(kept.value)
    assert core.read_namespaced_config_map("notes", "guarded").metadata.name == "notes"
    assert not client.AppsV1Api(kube).list_namespaced_deployment("guarded").items, "the stack's own objects went"
    # Once the other team's object is gone, destroy finishes.
    core.delete_namespaced_config_map("notes", "guarded")
    stack.destroy(on_output=printer("destroy guarded"))
    wait_for("namespace guarded to go", lambda: "guarded" not in {n.metadata.name for n in core.list_namespace().items})


def test_two_stacks_side_by_side_and_destroying_one_leaves_the_other_serving_and_scaling(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    left, right = stacks("left", gkeNodePools=True, spareReplicas=1), stacks("right", gkeNodePools=True)
    left.up(on_output=printer("up left"))
    right.up(on_output=printer("up right"))
    left.destroy(on_output=printer("destroy left"))
    classes = {c.metadata.name for c in client.SchedulingV1Api(kube).list_priority_class().items}
    assert serving_priority_class("right") in classes
    assert not classes & {serving_priority_class("left"), placeholder_priority_class("left")}
    assert deployment(kube, "right").status.ready_replicas == 1
    scale(kube, "right", 2)
    right.destroy(on_output=printer("destroy right"))


def test_on_a_cluster_it_does_not_own_the_stack_evicts_no_other_teams_pods(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    """The system node full of another team's low-priority pods; the serving pod could only have their room."""
    core, scheduling = client.CoreV1Api(kube), client.SchedulingV1Api(kube)
    scheduling.create_priority_class(
        client.V1PriorityClass(metadata=client.V1ObjectMeta(name="batch-low"), value=-5, preemption_policy="Never")
    )
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="batch")))
    batch = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "crunch"},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "crunch"}},
            "template": {"metadata": {"labels": {"app": "crunch"}}, "spec": {
                "priorityClassName": "batch-low",
                "containers": [{"name": "c", "image": "busybox:1.37", "resources": {"requests": {"cpu": "900m"}}}],
            }},
        },
    }  # fmt: skip
    utils.create_from_dict(kube, batch, namespace="batch")
    wait_for("the other team's pods running", lambda: client.AppsV1Api(kube).read_namespaced_deployment(
        "crunch", "batch").status.ready_replicas == 2)  # fmt: skip
    before = {pod.metadata.uid for pod in core.list_namespaced_pod("batch").items}
    stack = stacks("shared", cpuRequest="1", memoryRequest="1Gi")
    up = threading.Thread(target=lambda: stack.up(on_output=printer("up shared")), daemon=True)
    up.start()

    def refused_preemption() -> bool:
        events = core.list_namespaced_event("shared", field_selector="reason=FailedScheduling").items
        return any("preemption: not eligible due to preemptionPolicy=Never" in (e.message or "") for e in events)

    wait_for("the scheduler to refuse to preempt for the serving pod", refused_preemption, 120)
    after = core.list_namespaced_pod("batch").items
    assert {pod.metadata.uid for pod in after} == before and not any(pod.metadata.deletion_timestamp for pod in after)
    # When the other team's work ends, the serving pod takes its room and `up` completes.
    client.AppsV1Api(kube).delete_namespaced_deployment("crunch", "batch")
    up.join(timeout=300)
    assert not up.is_alive()
    assert deployment(kube, "shared").status.ready_replicas == 1
    stack.destroy(on_output=printer("destroy shared"))
    core.delete_namespace("batch")
    scheduling.delete_priority_class("batch-low")


def test_a_namespace_change_with_a_spare_on_a_full_pool_moves_the_stack_in_one_up(
    stacks: StackMaker, kube: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube)
    stack = stacks("move-a", gkeNodePools=True, spareReplicas=1)
    stack.up(on_output=printer("up move-a"))
    scale(kube, "move-a", 2)  # two replicas and the spare: every serving node taken
    stack.set_config("tfserving-gke:namespace", auto.ConfigValue("move-b"))
    stack.up(on_output=printer("up move-b"))
    wait_for("namespace move-a to go", lambda: "move-a" not in {n.metadata.name for n in core.list_namespace().items})
    assert deployment(kube, "move-b").status.ready_replicas == 1
    placeholders = core.list_namespaced_pod("move-b", label_selector=f"app.kubernetes.io/name={PLACEHOLDER_NAME}")
    assert [pod.status.phase for pod in placeholders.items] == ["Running"]
    classes = {c.metadata.name for c in client.SchedulingV1Api(kube).list_priority_class().items}
    assert not classes & {serving_priority_class("move-a"), placeholder_priority_class("move-a")}
    stack.destroy(on_output=printer("destroy move-b"))
