"""The GPU option (stack gpu), Spot nodes, the refusals of what cannot work, and the cost estimate."""

import pytest

from infra.cost import CostInputs, PoolCost, hourly_cost, node_hourly
from tests.infra.harness import TEST_PROJECT_ID, Deployment, failure, run_program, stack_config

NODE_POOL = "gcp:container/nodePool:NodePool"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
MIRROR = f"us-central1-docker.pkg.dev/{TEST_PROJECT_ID}/tfserving-gpu-docker-hub"


def serving_pool(deployment: Deployment) -> dict:
    return deployment.named(NODE_POOL, "gke-pool").inputs


def pod(deployment: Deployment) -> dict:
    return deployment.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_dev_stays_the_labs_cpu_system(dev):
    config = serving_pool(dev)["nodeConfig"]
    assert "guestAccelerators" not in config and "spot" not in config and "gcfsConfig" not in config
    (container,) = pod(dev)["containers"]
    assert container["image"] == "tensorflow/serving:2.8.0"
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert not dev.of_type("gcp:artifactregistry/repository:Repository")
    assert not any("--enable_batching" in arg for arg in container["args"])


def test_a_gpu_pool_has_one_gpu_per_node_with_gkes_driver_and_image_streaming(gpu):
    config = serving_pool(gpu)["nodeConfig"]
    assert config["machineType"] == "n1-standard-4"
    assert config["guestAccelerators"] == [
        {"type": "nvidia-tesla-t4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
    ]
    assert config["gcfsConfig"] == {"enabled": True}


def test_gpu_pods_ask_for_the_gpu_tolerate_its_taint_and_batch(gpu):
    spec = pod(gpu)
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "8Gi", "ephemeral-storage": "1Gi"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "--enable_batching" in container["args"]
    assert "--batching_parameters_file=/etc/tfserving/batching.config" in container["args"]
    server_config = gpu.named("kubernetes:core/v1:ConfigMap", "serving-server-config").inputs
    assert server_config["metadata"]["name"].startswith("tfserving-server-config-")
    parameters = server_config["data"]["batching.config"]
    for line in ("max_batch_size { value: 32 }", "batch_timeout_micros { value: 1000 }", "num_batch_threads"):
        assert line in parameters
    mount = next(m for m in container["volumeMounts"] if m["name"] == "server-config")
    assert mount == {"name": "server-config", "mountPath": "/etc/tfserving", "readOnly": True}
    assert {"name": "server-config", "configMap": {"name": server_config["metadata"]["name"]}} in spec["volumes"]


def test_the_gpu_image_streams_through_a_docker_hub_mirror_the_nodes_may_read(gpu):
    (container,) = pod(gpu)["containers"]
    assert container["image"] == f"{MIRROR}/tensorflow/serving:2.8.0-gpu"
    repository = gpu.one("gcp:artifactregistry/repository:Repository")
    assert repository.inputs["mode"] == "REMOTE_REPOSITORY" and repository.inputs["format"] == "DOCKER"
    assert repository.inputs["remoteRepositoryConfig"]["dockerRepository"] == {"publicRepository": "DOCKER_HUB"}
    grant = gpu.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert grant.inputs["role"] == "roles/artifactregistry.reader"
    assert grant.inputs["member"] == f"serviceAccount:tfserving-gpu-nodes@{TEST_PROJECT_ID}.iam.gserviceaccount.com"
    assert {repository.urn, grant.urn} <= set(gpu.one(DEPLOYMENT).dependencies)
    enabled = {api.inputs["service"]: api.urn for api in gpu.of_type("gcp:projects/service:Service")}
    assert enabled["artifactregistry.googleapis.com"] in repository.dependencies
    assert "containerfilesystem.googleapis.com" in enabled
    # A node account of its own must be allowed to consume that API, or GKE pulls the 4 GB image whole.
    node_roles = {
        g.inputs["role"]
        for g in gpu.of_type("gcp:projects/iAMMember:IAMMember")
        if g.inputs["member"].startswith("serviceAccount:tfserving-gpu-nodes@")
    }
    assert node_roles == {"roles/container.defaultNodeServiceAccount", "roles/serviceusage.serviceUsageConsumer"}, (
        "the mirror is read through its own grant, never project-wide"
    )


def test_spot_nodes_are_a_setting():
    spot = run_program(stack_config("dev", spotNodes=True))
    assert serving_pool(spot)["nodeConfig"]["spot"] is True
    assert "spot" not in spot.named(NODE_POOL, "gke-system-pool").inputs["nodeConfig"], "GKE's own pods stay put"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"accelerator": "nvidia-a100"}, "tfserving-gke:accelerator 'nvidia-a100' is not one of none, nvidia-tesla-t4"),
        (
            {"accelerator": "nvidia-l4", "machineType": "g2-standard-4", "image": "tensorflow/serving:2.8.0-gpu"},
            "tfserving-gke:accelerator nvidia-l4: zone us-central1-f does not offer nvidia-l4; choose one of "
            "us-central1-a, us-central1-b, us-central1-c",
        ),
        (
            {
                "accelerator": "nvidia-l4",
                "zone": "us-central1-a",
                "machineType": "g2-standard-4",
                "image": "tensorflow/serving:2.8.0-gpu",
            },
            "is not compiled for nvidia-l4's compute capability",
        ),
        (
            {"accelerator": "nvidia-tesla-t4", "machineType": "e2-standard-4", "image": "tensorflow/serving:2.8.0-gpu"},
            "nvidia-tesla-t4 attaches only to n1 machine types, not e2-standard-4",
        ),
        ({"accelerator": "nvidia-tesla-t4"}, "image tensorflow/serving:2.8.0 is not a GPU build"),
        (
            {"accelerator": "nvidia-tesla-t4", "zone": "us-central1-d", "image": "tensorflow/serving:2.8.0-gpu"},
            "zone us-central1-d does not offer nvidia-tesla-t4",
        ),
        ({"spotNodes": "often"}, "tfserving-gke:spotNodes must be true or false"),
    ],
)
def test_what_cannot_work_is_refused_before_anything_exists(monkeypatch, overrides, expected):
    assert expected in failure(monkeypatch, **overrides)


DISK_HOUR = 0.10 / 730  # pd-balanced, per GB-hour
ADDRESS = 0.005  # an external IPv4 address in use, per hour


def test_the_cost_estimate_counts_machines_disks_and_addresses(dev):
    system, serving = 0.067 + 30 * DISK_HOUR + ADDRESS, 0.19 + 100 * DISK_HOUR + ADDRESS
    assert dev.outputs["estimatedCostPerHour"] == {
        # cluster fee 0.10 + load balancer 0.025 + one system node + one serving node
        "atRestUsd": round(0.125 + system + serving, 3),
        # ... with two system nodes (the autoscaler's most) and three serving nodes
        "atFullScaleUsd": round(0.125 + 2 * system + 3 * serving, 3),
        "basis": "us-central1 list prices of 2026-11-28 (infra/cost.py)",
    }
    assert (
        dev.outputs["estimatedCostPerHour"]["atRestUsd"],
        dev.outputs["estimatedCostPerHour"]["atFullScaleUsd"],
    ) == (
        0.41,
        0.903,
    )


def test_at_rest_the_pool_holds_the_minimum_replicas_and_the_spares(prod):
    """prod: minReplicas 2 and one spare, one per n2-standard-8 node: 3 nodes at rest, not minNodes' 2."""
    node = 0.3885 + 100 * DISK_HOUR + ADDRESS
    system = 0.067 + 30 * DISK_HOUR + ADDRESS
    assert prod.outputs["estimatedCostPerHour"]["atRestUsd"] == round(0.125 + system + 3 * node, 3)
    assert prod.outputs["estimatedCostPerHour"]["atFullScaleUsd"] == round(0.125 + 2 * system + 8 * node, 3)


def test_private_nodes_have_no_address_to_pay_for():
    private = run_program(stack_config("dev", privateNodes=True)).outputs["estimatedCostPerHour"]
    assert private["atRestUsd"] == round(0.41 - 2 * ADDRESS, 3)


def test_gpu_nodes_add_their_gpu_and_an_unknown_price_is_said(gpu):
    assert gpu.outputs["estimatedCostPerHour"]["atRestUsd"] == pytest.approx(0.41 + 0.35, abs=0.002)
    spot = PoolCost("n1-standard-4", "nvidia-tesla-t4", True, 100, 1, 3)
    assert node_hourly(spot, public=True) == pytest.approx(0.052 + 0.175 + 100 * DISK_HOUR + ADDRESS)
    unknown = hourly_cost(CostInputs((PoolCost("c3-standard-8", None, False, 100, 1, 3),), public_nodes=True))
    assert unknown == {"unknown": "no price for c3-standard-8 in infra/cost.py"}
