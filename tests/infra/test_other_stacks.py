"""The larger example stack and a locally exported model load, validate and change what they should."""

import re

from tests.infra.harness import TEST_PROJECT_ID, run_program, stack_config


def test_prod_stack_scales_wider_in_its_own_namespace(prod):
    cluster = prod.one("gcp:container/cluster:Cluster").inputs
    assert (cluster["name"], cluster["location"]) == ("tfserving-prod", "europe-west4-a")
    assert cluster["deletionProtection"] is True
    assert cluster["releaseChannel"] == {"channel": "STABLE"}
    pool = prod.named("gcp:container/nodePool:NodePool", "gke-pool").inputs
    assert pool["nodeConfig"]["machineType"] == "n2-standard-8"
    assert pool["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 8}
    assert prod.one("gcp:storage/bucket:Bucket").inputs["location"] == "europe-west4"

    namespace = prod.one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == "serving"
    for resource in prod.resources:
        cluster_scoped = resource.type in (
            "kubernetes:core/v1:Namespace",
            "kubernetes:scheduling.k8s.io/v1:PriorityClass",
        )
        if resource.type.startswith("kubernetes:") and not cluster_scoped:
            assert resource.inputs["metadata"]["namespace"] == "serving", resource.name
            assert namespace.urn in resource.dependencies, resource.name

    service = prod.one("kubernetes:core/v1:Service").inputs
    assert service["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24", "198.51.100.0/24"]
    hpa = prod.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    binding = prod.named("gcp:serviceaccount/iAMMember:IAMMember", "serving-reader-workload-identity").inputs
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT_ID}.svc.id.goog[serving/image-classifier]"


def test_the_lab_namespace_default_is_used_as_is_not_declared():
    deployment = run_program(stack_config("dev", namespace="default"))
    assert deployment.of_type("kubernetes:core/v1:Namespace") == []
    assert deployment.one("kubernetes:apps/v1:Deployment").inputs["metadata"]["namespace"] == "default"


def test_local_model_is_uploaded_file_by_file(tmp_path):
    model = tmp_path / "my_model"
    (model / "1" / "variables").mkdir(parents=True)
    (model / "1" / "saved_model.pb").write_bytes(b"graph")
    (model / "1" / "variables" / "variables.index").write_bytes(b"index")
    deployment = run_program(stack_config("dev", modelSource=str(model), modelFolder="mine"))

    objects = deployment.of_type("gcp:storage/bucketObject:BucketObject")
    names = sorted(obj.inputs["name"] for obj in objects)
    folder = names[0].removesuffix("/1/saved_model.pb")
    assert re.fullmatch(r"mine/[0-9a-f]{10}", folder), "one folder per model content"
    assert names == [f"{folder}/1/saved_model.pb", f"{folder}/1/variables/variables.index"]
    for obj in objects:
        assert obj.inputs["bucket"] == f"{TEST_PROJECT_ID}-bucket"
        assert obj.inputs["source"].path.startswith(str(model))
    serving = deployment.one("kubernetes:apps/v1:Deployment")
    assert {obj.urn for obj in objects} <= set(serving.dependencies)
    config = deployment.named("kubernetes:core/v1:ConfigMap", "serving-config").inputs["data"]
    assert config["MODEL_PATH"] == f"gs://{TEST_PROJECT_ID}-bucket/{folder}"
