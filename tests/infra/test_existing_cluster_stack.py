"""A cluster the user already has: Kubernetes objects only, GKE's extras only when asked, bad settings refused.

The same stack runs on the real engine against a local control plane in tests/engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.cluster_double import ClusterDouble, write_kubeconfig
from tests.infra.harness import Deployment, refused_settings, run_program, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"


@pytest.fixture
def kubeconfig(cluster: ClusterDouble, tmp_path: Path) -> Iterator[Path]:
    yield write_kubeconfig(tmp_path / "config", cluster.url)
    cluster.objects.clear()
    cluster.status = 0


def existing(kubeconfig: Path, **overrides: Any) -> Deployment:
    return run_program(stack_config("existing", kubeconfig=str(kubeconfig), **overrides), stack="existing")


def refusal(monkeypatch: pytest.MonkeyPatch, stack: str, **overrides: Any) -> str:
    return refused_settings(monkeypatch, stack_config(stack, **overrides), stack)


def test_the_example_stack_registers_no_google_resource(kubeconfig: Path) -> None:
    deployed = existing(kubeconfig)
    assert not [r.type for r in deployed.resources if r.type.startswith("gcp:")]
    provider = deployed.one("pulumi:providers:kubernetes")
    # The path, so that no credential lands in the state.
    assert provider.inputs["kubeconfig"] == str(kubeconfig.resolve())
    assert "context" not in provider.inputs
    kinds = {r.type for r in deployed.resources}
    assert "kubernetes:monitoring.googleapis.com/v1:PodMonitoring" not in kinds
    assert "kubernetes:batch/v1:Job" not in kinds
    account = deployed.one("kubernetes:core/v1:ServiceAccount")
    assert "annotations" not in account.inputs["metadata"]
    config_map = deployed.named("kubernetes:core/v1:ConfigMap", "serving-config")
    assert config_map.inputs["data"]["MODEL_PATH"] == "gs://spls/gsp777/resnet_101"
    assert deployed.outputs["kubeconfigPath"] == str(kubeconfig.resolve())
    assert deployed.outputs["loadGenerator"]["nodePool"] == ""


def test_a_load_balancer_that_gives_a_hostname_is_exported_by_it(kubeconfig: Path) -> None:
    hostname = "a1b2c3-123456789.eu-west-1.elb.amazonaws.com"
    config = stack_config("existing", kubeconfig=str(kubeconfig))
    outputs = run_program(config, stack="existing", load_balancer_ingress={"hostname": hostname}).outputs
    assert outputs["externalIp"] == hostname
    assert outputs["restUrl"] == f"http://{hostname}:8501"
    assert outputs["predictUrl"] == f"http://{hostname}:8501/v1/models/image_classifier:predict"
    assert outputs["grpcTarget"] == f"{hostname}:8500"


def test_pods_go_wherever_the_cluster_puts_them_unless_it_has_the_stacks_pools(kubeconfig: Path) -> None:
    plain = existing(kubeconfig).named(DEPLOYMENT, "serving-deployment").inputs["spec"]["template"]["spec"]
    assert "nodeSelector" not in plain
    assert "tolerations" not in plain
    pooled = existing(kubeconfig, gkeNodePools=True)
    spec = pooled.named(DEPLOYMENT, "serving-deployment").inputs["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"cloud.google.com/gke-nodepool": "serving-pool"}
    assert [t["key"] for t in spec["tolerations"]] == ["tfserving.dev/serving"]
    assert pooled.outputs["loadGenerator"]["nodePool"] == "load-pool"


def test_gke_extras_are_declared_when_turned_on(kubeconfig: Path) -> None:
    email = "model-reader@my-project.iam.gserviceaccount.com"
    deployed = existing(kubeconfig, managedPrometheus=True, servingGoogleServiceAccount=email, kubeContext="mine")
    assert deployed.one("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")
    annotations = deployed.one("kubernetes:core/v1:ServiceAccount").inputs["metadata"]["annotations"]
    assert annotations == {"iam.gke.io/gcp-service-account": email}
    assert deployed.one("pulumi:providers:kubernetes").inputs["context"] == "mine"


def test_a_new_model_path_changes_the_pod_template(kubeconfig: Path) -> None:
    def template(path: str) -> dict:
        deployment = existing(kubeconfig, modelSource=path).named(DEPLOYMENT, "serving-deployment")
        return deployment.inputs["spec"]["template"]["metadata"]["annotations"]

    assert template("gs://spls/gsp777/resnet_101") != template("gs://my-models/resnet_101")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"spotNodes": True},
            "tfserving-gke:spotNodes shapes the stack's own GKE cluster, which is not created with "
            "tfserving-gke:kubeconfig set: `pulumi config rm spotNodes`",
        ),
        (
            {"machineType": "n2-standard-8"},
            "tfserving-gke:machineType describes the serving pool, which a cluster you already have holds only with "
            "tfserving-gke:gkeNodePools true: set that if it has the stack's pools, or `pulumi config rm machineType`",
        ),
        (
            {"gkeNodePools": True, "servingPreemption": True},
            "(tfserving-gke:gkeNodePools true) serving pods always preempt: `pulumi config rm servingPreemption`",
        ),
        (
            {"spareReplicas": 1},
            "tfserving-gke:spareReplicas needs serving pods that preempt its placeholders, which they do only on the "
            "stack's pools (tfserving-gke:gkeNodePools true) or with tfserving-gke:servingPreemption true",
        ),
        (
            {"gkeNodePools": True, "cpuRequest": "4"},
            "tfserving-gke:cpuRequest (4) cannot fit a n1-standard-4 node",
        ),
        ({"controlPlaneAuthorizedNetworks": ["203.0.113.0/24"]}, "`pulumi config rm controlPlaneAuthorizedNetworks`"),
        ({"kubeContext": "theirs"}, "has no context 'theirs'; it has mine (setting kubeContext)"),
        (
            {"modelSource": "."},
            "tfserving-gke:modelSource is a local folder, which needs the stack's own bucket",
        ),
        ({"servingGoogleServiceAccount": "reader"}, "'reader' is not a Google service account email"),
    ],
)
def test_settings_of_the_other_mode_are_refused_before_anything_exists(
    monkeypatch: pytest.MonkeyPatch, kubeconfig: Path, overrides: dict, expected: str
) -> None:
    assert expected in refusal(monkeypatch, "existing", kubeconfig=str(kubeconfig), **overrides)


def test_a_kubeconfig_that_cannot_be_read_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    message = refusal(monkeypatch, "existing", kubeconfig=str(tmp_path / "absent"))
    assert f"tfserving-gke:kubeconfig '{tmp_path / 'absent'}': cannot be read (No such file or directory)" in message
    (tmp_path / "notes.txt").write_text("just: notes\n")
    assert "is not a kubeconfig (it has no contexts)" in refusal(
        monkeypatch, "existing", kubeconfig=str(tmp_path / "notes.txt")
    )


@pytest.mark.parametrize("setting", ["gkeNodePools", "managedPrometheus"])
def test_existing_cluster_settings_are_refused_on_the_stacks_own_cluster(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    message = refusal(monkeypatch, "dev", **{setting: True})
    assert f"tfserving-gke:{setting} applies only to a cluster you already have" in message
    assert f"`pulumi config rm {setting}`" in message


OURS = {"app.kubernetes.io/part-of": "tfserving-gke", "app.kubernetes.io/instance": "existing"}


def test_a_namespace_the_stack_did_not_make_is_refused_before_anything_exists(
    monkeypatch: pytest.MonkeyPatch, cluster: ClusterDouble, kubeconfig: Path
) -> None:
    cluster.namespace("tfserving", {"team": "payments"})
    assert refusal(monkeypatch, "existing", kubeconfig=str(kubeconfig)).splitlines()[1:] == [
        "  - namespace tfserving already exists in the cluster, made by someone else, not by stack 'existing': the "
        "stack would take it over, and its destroy delete it. Choose another tfserving-gke:namespace (cluster-wide "
        "objects are named after it), or delete it if nothing of it is needed."
    ]
    # Another stack of this project is named as such.
    cluster.namespace("tfserving", {**OURS, "app.kubernetes.io/instance": "staging"})
    assert "made by stack 'staging' of this project" in refusal(monkeypatch, "existing", kubeconfig=str(kubeconfig))


def test_the_stacks_own_namespace_is_its_own_on_the_next_up(cluster: ClusterDouble, kubeconfig: Path) -> None:
    cluster.namespace("tfserving", OURS)
    existing(kubeconfig)
    assert "/api/v1/namespaces/tfserving" in cluster.asked


def test_a_priority_class_of_another_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, cluster: ClusterDouble, kubeconfig: Path
) -> None:
    cluster.objects["/apis/scheduling.k8s.io/v1/priorityclasses/tfserving-spare"] = {
        "kind": "PriorityClass", "metadata": {"name": "tfserving-spare"}, "value": -10,
    }  # fmt: skip
    refused = refusal(monkeypatch, "existing", kubeconfig=str(kubeconfig), gkeNodePools=True, spareReplicas=1)
    assert "PriorityClass tfserving-spare already exists in the cluster, made by someone else" in refused


def test_a_cluster_that_cannot_be_asked_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, cluster: ClusterDouble, kubeconfig: Path
) -> None:
    cluster.status = 403
    assert refusal(monkeypatch, "existing", kubeconfig=str(kubeconfig)).splitlines()[1:] == [
        "  - tfserving-gke:kubeconfig: the cluster could not be asked whether what the stack would create exists "
        "already (reading namespace tfserving failed: HTTP 403 Forbidden); check that it answers through this "
        "kubeconfig."
    ]


def test_on_a_shared_cluster_serving_pods_preempt_nothing_unless_allowed(kubeconfig: Path) -> None:
    shared = existing(kubeconfig)
    (serving,) = (c.inputs for c in shared.of_type(PRIORITY_CLASS))
    # Not "no class": a pod of none has priority 0 and preempts pods below it.
    assert (serving["value"], serving["preemptionPolicy"], serving["globalDefault"]) == (0, "Never", False)
    pod = shared.named(DEPLOYMENT, "serving-deployment").inputs["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "tfserving-serving" and "nodeSelector" not in pod
    allowed = existing(kubeconfig, servingPreemption=True, spareReplicas=1)
    classes = {c.inputs["metadata"]["name"]: c.inputs for c in allowed.of_type(PRIORITY_CLASS)}
    assert classes["tfserving-serving"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert classes["tfserving-spare"]["preemptionPolicy"] == "Never"


def test_cluster_wide_objects_carry_the_namespace_so_stacks_side_by_side_never_share_them(kubeconfig: Path) -> None:
    staging = existing(kubeconfig, gkeNodePools=True, spareReplicas=1, namespace="staging")
    names = {c.inputs["metadata"]["name"] for c in staging.of_type(PRIORITY_CLASS)}
    assert names == {"staging-serving", "staging-spare"}
    pod = staging.named(DEPLOYMENT, "serving-deployment").inputs["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "staging-serving"


def test_the_namespace_is_guarded_and_moves_old_objects_out_first(kubeconfig: Path) -> None:
    deployed = existing(kubeconfig)
    namespace = deployed.one("kubernetes:core/v1:Namespace")
    assert namespace.delete_before_replace
    guard = deployed.one("pulumi-python:dynamic:Resource")
    assert (guard.inputs["namespace"], guard.inputs["instance"], guard.inputs["context"]) == (
        "tfserving",
        "existing",
        "",
    )
    assert guard.inputs["kubeconfig"] == str(kubeconfig.resolve())
    assert namespace.urn in guard.dependencies
    # Everything in the namespace is deleted before the guard, which is deleted before the namespace.
    namespaced = [r for r in deployed.resources if r.type.startswith("kubernetes:") and "namespace" in str(r.inputs)]
    in_it = [r for r in namespaced if (r.inputs.get("metadata") or {}).get("namespace") == "tfserving"]
    assert in_it and all(guard.urn in r.dependencies for r in in_it)
