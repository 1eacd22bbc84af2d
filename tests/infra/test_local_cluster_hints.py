"""What `python -m localcluster` prints for a user to paste deploys a stack whose pods fit the simulated nodes: the
serving pool's labels and taint, and every resource its containers request (CPU, memory, ephemeral storage)."""

from __future__ import annotations

import shlex
from pathlib import Path

from kubernetes.utils.quantity import parse_quantity

from infra.settings import project_defaults
from localcluster.nodes import node_manifest, stack_pools
from localcluster.stack_settings import config_hints
from tests.infra.cluster_double import ClusterDouble, write_kubeconfig
from tests.infra.harness import run_program, stack_config


def pasted(kubeconfig: Path) -> dict[str, str]:
    """The settings the printed `pulumi config set KEY VALUE --stack existing` lines set, as the CLI parses them."""
    settings = {}
    for hint in config_hints(kubeconfig, "existing"):
        words = shlex.split(hint)
        assert words[:3] == ["pulumi", "config", "set"] and words[-2:] == ["--stack", "existing"], hint
        key, value = words[3:5]
        assert key in project_defaults(), f"{key} is not a setting of Pulumi.yaml"
        settings[key] = value
    return settings


def test_the_printed_settings_place_every_serving_pod_on_a_simulated_node(cluster: ClusterDouble, tmp_path: Path):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig.yaml", cluster.url)
    deployment = run_program(stack_config("existing", settings=pasted(kubeconfig)), stack="existing")
    pod = deployment.named("kubernetes:apps/v1:Deployment", "serving-deployment").inputs["spec"]["template"]["spec"]
    serving_pool = next(pool for pool in stack_pools() if pool.name == project_defaults()["nodePoolName"])
    node = node_manifest(serving_pool, 0)
    assert node.metadata is not None and node.status is not None and node.spec is not None
    labels = node.metadata.labels or {}
    assert all(labels.get(key) == value for key, value in pod["nodeSelector"].items()), pod["nodeSelector"]
    for taint in node.spec.taints or []:
        assert any(t["key"] == taint.key and t.get("value") == taint.value for t in pod["tolerations"]), taint.key
    allocatable = node.status.allocatable or {}
    for resource in ("cpu", "memory", "ephemeral-storage"):
        wanted = sum(parse_quantity(c["resources"]["requests"].get(resource, "0")) for c in pod["containers"])
        assert wanted <= parse_quantity(allocatable[resource]), f"{resource}: {wanted} > {allocatable[resource]}"
