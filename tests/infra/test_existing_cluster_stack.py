"""A cluster the user already has: Kubernetes objects only, GKE's extras only when asked, bad settings refused.

The same stack runs on the real engine against a local control plane in tests/engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.harness import Deployment, refused_settings, run_program, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "mine", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "mine",
            }
        )
    )
    return path


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
            {"machineType": "n2-standard-8"},
            "tfserving-gke:machineType shapes the stack's own GKE cluster, which is not created with "
            "tfserving-gke:kubeconfig set: `pulumi config rm machineType`",
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
