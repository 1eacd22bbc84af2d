"""The existing-cluster stack through its whole life, on the real engine, provider and control plane.

The tests run in file order, each building on the last, as a user's session would: up, a no-change preview,
a model change, an HPA-like scale-up and another up, the watcher, an in-cluster load test, destroy.
"""

# The Kubernetes client types every field Optional; here a missing one is a failing test all the same.
# pyright: reportOptionalMemberAccess=false, reportOptionalSubscript=false, reportOptionalIterable=false

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from kubernetes import client
from pulumi import automation as auto

from infra.namespace import POD_SECURITY_LEVEL
from infra.serving import APP_NAME
from infra.warm_capacity import (
    PLACEHOLDER_NAME,
    PLACEHOLDER_PRIORITY,
    SERVING_PRIORITY,
    placeholder_priority_class,
    serving_priority_class,
)
from loadtest.report_server import READY_MARK
from localcluster.controlplane import ControlPlane
from localcluster.engine import REPO, make_stack, printer
from localcluster.processes import free_port
from tests.engine.pod_network import PodNetwork
from tests.engine.support import run_tool, wait_for

STACK = "engine"
NAMESPACE = "tfserving"
# Each engine call waits on real awaits; a stuck one fails the test instead of hanging CI.
pytestmark = pytest.mark.timeout(300)


def example_config(plane: ControlPlane, **overrides: object) -> dict[str, object]:
    """The README's example stack for a cluster you already have, pointed at the local control plane."""
    example = yaml.safe_load((REPO / "Pulumi.existing.yaml").read_text())["config"]
    return {
        **example,
        "tfserving-gke:kubeconfig": str(plane.kubeconfig),
        # The local nodes are shaped like the stack's pools; one warm spare exercises preemption.
        "tfserving-gke:gkeNodePools": True,
        "tfserving-gke:spareReplicas": 1,
        **overrides,
    }


@pytest.fixture(scope="module")
def stack(control_plane: ControlPlane, engine_home: Path) -> Iterator[auto.Stack]:
    stack = make_stack(STACK, engine_home, example_config(control_plane))
    yield stack
    # Whatever failed above, leave no object behind (the last test removes the stack when all went well).
    if any(summary.name == STACK for summary in stack.workspace.list_stacks()):
        stack.destroy(on_output=printer("destroy"))


@pytest.fixture(scope="module")
def first_up(stack: auto.Stack) -> auto.UpResult:
    return stack.up(on_output=printer("up"))


def test_up_awaits_every_object_and_exports_the_ingress(first_up: auto.UpResult, kube: client.ApiClient) -> None:
    assert first_up.summary.result == "succeeded"
    outputs = {key: value.value for key, value in first_up.outputs.items()}
    # kwok's load-balancer stage wrote the ingress; pulumi-kubernetes waited for it before exporting.
    assert outputs["externalIp"] == "127.0.0.1"
    assert outputs["restUrl"] == "http://127.0.0.1:8501"
    assert outputs["deploymentName"] == APP_NAME
    assert outputs["kubeconfigPath"].endswith("kubeconfig.yaml")

    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    deployment = apps.read_namespaced_deployment(APP_NAME, NAMESPACE)
    assert deployment.status.ready_replicas == 1
    service = core.read_namespaced_service(APP_NAME, NAMESPACE)
    assert [port.port for port in service.spec.ports] == [8500, 8501]
    hpa = client.AutoscalingV2Api(kube).read_namespaced_horizontal_pod_autoscaler(APP_NAME, NAMESPACE)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 4)
    assert client.PolicyV1Api(kube).read_namespaced_pod_disruption_budget(APP_NAME, NAMESPACE).spec.max_unavailable == 1
    policies = {p.metadata.name for p in client.NetworkingV1Api(kube).list_namespaced_network_policy(NAMESPACE).items}
    assert policies == {APP_NAME, PLACEHOLDER_NAME}
    classes = {c.metadata.name: c.value for c in client.SchedulingV1Api(kube).list_priority_class().items}
    assert (classes[serving_priority_class(NAMESPACE)], classes[placeholder_priority_class(NAMESPACE)]) == (
        SERVING_PRIORITY,
        PLACEHOLDER_PRIORITY,
    )
    assert apps.read_namespaced_deployment(PLACEHOLDER_NAME, NAMESPACE).status.ready_replicas == 1


def test_every_pod_is_admitted_by_restricted_and_placed_on_the_serving_pool(
    first_up: auto.UpResult, kube: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube)
    labels = core.read_namespace(NAMESPACE).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == POD_SECURITY_LEVEL
    pods = core.list_namespaced_pod(NAMESPACE).items
    assert len(pods) == 2  # one replica, one placeholder
    assert {pod.status.phase for pod in pods} == {"Running"}
    # Each holds a serving node of its own (3 CPU of an n1-standard-4's 3.92).
    assert len({pod.spec.node_name for pod in pods}) == 2
    assert all(pod.spec.node_name.startswith("serving-pool-") for pod in pods)


def test_restricted_admission_refuses_a_pod_that_breaks_it(
    first_up: auto.UpResult, control_plane: ControlPlane, engine_home: Path
) -> None:
    """The check is live: the real admission plugin refuses a privileged pod, and `up` says why."""

    def privileged_pod() -> None:
        provider = k8s.Provider("local", kubeconfig=str(control_plane.kubeconfig))
        k8s.core.v1.Pod(
            "privileged",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="privileged", namespace=NAMESPACE),
            spec=k8s.core.v1.PodSpecArgs(
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="main",
                        image="busybox:1.37",
                        security_context=k8s.core.v1.SecurityContextArgs(privileged=True),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    breaker = make_stack("breaks-restricted", engine_home, {}, program=privileged_pod)
    try:
        with pytest.raises(auto.CommandError) as refused:
            breaker.up(on_output=printer("breaks-restricted"))
        assert 'violates PodSecurity "restricted:latest"' in str(refused.value)
        assert "privileged" in str(refused.value)
    finally:
        breaker.destroy(on_output=printer("breaks-restricted"))
        breaker.workspace.remove_stack("breaks-restricted")


def test_a_preview_right_after_up_changes_nothing(first_up: auto.UpResult, stack: auto.Stack) -> None:
    # expect_no_changes makes the CLI itself fail on any planned change.
    preview = stack.preview(expect_no_changes=True, on_output=printer("preview"))
    assert set(preview.change_summary) <= {auto.OpType.SAME}


def test_a_new_model_path_rolls_the_pods(
    first_up: auto.UpResult, stack: auto.Stack, control_plane: ControlPlane, kube: client.ApiClient
) -> None:
    apps = client.AppsV1Api(kube)
    before = {rs.metadata.name for rs in apps.list_namespaced_replica_set(NAMESPACE).items}
    new_path = "gs://spls/gsp777/resnet_101_v2"
    stack.set_config("tfserving-gke:modelSource", auto.ConfigValue(new_path))
    stack.up(on_output=printer("up"))
    replica_sets = apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={APP_NAME}").items
    new = [rs for rs in replica_sets if rs.metadata.name not in before]
    assert len(new) == 1, "a changed model path must create a new ReplicaSet"
    assert new[0].status.ready_replicas == 1
    env = apps.read_namespaced_deployment(APP_NAME, NAMESPACE).spec.template.spec.containers[0].env_from
    config_map = client.CoreV1Api(kube).read_namespaced_config_map(str(env[0].config_map_ref.name), NAMESPACE)
    assert config_map.data["MODEL_PATH"] == new_path
    # The old ConfigMap went once the new one was in place: one of each, named after their content.
    names = [c.metadata.name for c in client.CoreV1Api(kube).list_namespaced_config_map(NAMESPACE).items]
    assert sorted(name.rsplit("-", 1)[0] for name in names if name.startswith("tfserving-")) == [
        "tfserving-configs",
        "tfserving-server-config",
    ]


def test_replicas_scaled_through_the_api_survive_the_next_up(
    first_up: auto.UpResult, stack: auto.Stack, kube: client.ApiClient
) -> None:
    """What the HPA does between two `up`s is the HPA's: the Deployment declares no replica count."""
    apps = client.AppsV1Api(kube)
    apps.patch_namespaced_deployment_scale(APP_NAME, NAMESPACE, {"spec": {"replicas": 3}})
    # Three serving nodes: the third replica preempts the warm placeholder (the real scheduler decides).
    wait_for(
        "three ready replicas", lambda: apps.read_namespaced_deployment(APP_NAME, NAMESPACE).status.ready_replicas == 3
    )
    result = stack.up(on_output=printer("up"))
    assert set(result.summary.resource_changes or {}) <= {"same"}
    assert apps.read_namespaced_deployment(APP_NAME, NAMESPACE).spec.replicas == 3
    placeholder = (
        client.CoreV1Api(kube)
        .list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/name={PLACEHOLDER_NAME}")
        .items
    )
    assert [pod.status.phase for pod in placeholder] == ["Pending"]


def test_the_watcher_samples_the_deployment(first_up: auto.UpResult, engine_home: Path, tmp_path: Path) -> None:
    run = run_tool(
        engine_home,
        "loadtest.watch",
        "--stack",
        STACK,
        "--interval",
        "1",
        "--duration",
        "4",
        "--report-dir",
        str(tmp_path),
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    with (tmp_path / "timeline.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 2
    assert {row["ready_replicas"] for row in rows} == {"3"}
    # Every node counts: the pools are the stack's, and --node-pool defaults to the stack's serving pool.
    assert {row["nodes"] for row in rows} == {"3"}


@pytest.fixture
def master_serving_reports(pod_network: PodNetwork, tmp_path: Path) -> Iterator[dict[str, bytes]]:
    """kwok runs no container: Locust's report server, as the master runs it after a load, plays its port 8089."""
    folder = tmp_path / "served"
    folder.mkdir()
    reports = {
        "verdict": b"PASS: 40 requests, 0 failures (0.00%; allowed 1.00%), 8.0 rps, p50 60 ms, p95 90 ms, p99 95 ms\n",
        "report.html": b"<html>Locust</html>",
        # Past a kubelet's 10 MiB log rotation, through the real API server's pod proxy.
        "locust_stats_history.csv": b"1764324000,4,8.0,0.0,60,90\n" * 420_000,
    }
    for name, content in reports.items():
        (folder / name).write_bytes(content)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtest.report_server",
            "--dir",
            str(folder),
            "--exit-code",
            "0",
            "--port",
            str(port),
            "--linger",
            "600",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().startswith(READY_MARK)
    pod_network.routes[""] = port
    yield reports
    pod_network.routes.pop("", None)
    server.terminate()
    server.wait(timeout=10)


def test_an_in_cluster_load_test_checks_the_service_and_brings_its_reports_back_through_the_api_server(
    first_up: auto.UpResult,
    engine_home: Path,
    kube: client.ApiClient,
    tmp_path: Path,
    tf_serving_at_the_ingress: str,
    master_serving_reports: dict[str, bytes],
    pod_network: PodNetwork,
) -> None:
    """The preflight predicts through the real service proxy; the reports come through the real pod proxy."""
    before = {ns.metadata.name for ns in client.CoreV1Api(kube).list_namespace().items}
    report_dir = tmp_path / "report"
    run = run_tool(
        engine_home,
        "loadtest",
        "--stack",
        STACK,
        "--in-cluster",
        "--workers",
        "2",
        "--users",
        "2",
        "--run-time",
        "5s",
        "--pending-timeout",
        "60",
        "--report-grace",
        "60",
        "--report-dir",
        str(report_dir),
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{output}\nthrough the pod network: {pod_network.requests}"
    assert "Traceback" not in output, output
    assert "http://image-classifier.tfserving.svc.cluster.local:8501 (through the API server's proxy)" in run.stdout
    assert "POST /v1/models/image_classifier/versions/1:predict" in pod_network.requests
    assert run.stdout.strip().splitlines()[-1] == master_serving_reports["verdict"].decode().strip()
    for name in ("report.html", "locust_stats_history.csv"):
        assert (report_dir / name).read_bytes() == master_serving_reports[name], name
    core = client.CoreV1Api(kube)
    wait_for(
        "the load test's namespace to be gone",
        lambda: {ns.metadata.name for ns in core.list_namespace().items} <= before,
        timeout_s=120,
    )


def test_destroy_leaves_no_object_of_the_stack(stack: auto.Stack, kube: client.ApiClient) -> None:
    stack.destroy(on_output=printer("destroy"))
    core = client.CoreV1Api(kube)
    assert NAMESPACE not in {ns.metadata.name for ns in core.list_namespace().items}
    classes = {c.metadata.name for c in client.SchedulingV1Api(kube).list_priority_class().items}
    assert not classes & {serving_priority_class(NAMESPACE), placeholder_priority_class(NAMESPACE)}
    assert stack.export_stack().deployment.get("resources") in (None, [])
    stack.workspace.remove_stack(STACK)
