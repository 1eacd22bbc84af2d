"""Stack dev declares the lab's system, value for value, wired together correctly."""

import json
import re

from tests.infra.harness import EXTERNAL_IP, TEST_PROJECT_ID, Deployment, run_program, stack_config

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
K8S_PROVIDER = "pulumi:providers:kubernetes"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
COPY_JOB = "kubernetes:batch/v1:Job"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def container(dev: Deployment) -> dict:
    (tf_serving,) = dev.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return tf_serving


def account_email(dev: Deployment, account_id: str) -> str:
    return f"{account_id}@{TEST_PROJECT_ID}.iam.gserviceaccount.com"


def test_cluster_is_the_labs_zonal_cluster_and_can_be_destroyed(dev):
    cluster = dev.one(CLUSTER).inputs
    assert cluster["name"] == "cluster-1"
    assert cluster["location"] == "us-central1-f"
    assert cluster["project"] == TEST_PROJECT_ID
    assert cluster["deletionProtection"] is False
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{TEST_PROJECT_ID}.svc.id.goog"}
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert "nodePools" not in cluster


def serving_pool(dev: Deployment):
    return dev.named(NODE_POOL, "gke-pool")


def test_node_pool_autoscales_one_to_three_lab_nodes(dev):
    pool = serving_pool(dev).inputs
    assert pool["location"] == "us-central1-f"
    assert pool["cluster"] == "cluster-1"
    assert pool["initialNodeCount"] == 1
    assert "nodeCount" not in pool, "node_count would reset the autoscaler on every update"
    assert pool["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}
    node_config = pool["nodeConfig"]
    assert node_config["machineType"] == "n1-standard-4"
    assert node_config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert node_config["serviceAccount"] == account_email(dev, "cluster-1-nodes")
    assert node_config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_nodes_run_as_a_dedicated_least_privilege_account(dev):
    grants = dev.of_type("gcp:projects/iAMMember:IAMMember")
    member = f"serviceAccount:{account_email(dev, 'cluster-1-nodes')}"
    # Nothing project-wide to read images with: they are public (a GPU stack's mirror has its own grant).
    assert {(grant.inputs["role"], grant.inputs["member"]) for grant in grants} == {
        ("roles/container.defaultNodeServiceAccount", member),
    }


def test_kubernetes_provider_uses_the_gke_auth_plugin_and_waits_for_the_pool(dev):
    provider = dev.one(K8S_PROVIDER)
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    (user,) = kubeconfig["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == "https://203.0.113.10"
    assert {pool.urn for pool in dev.of_type(NODE_POOL)} <= set(provider.dependencies)


def test_every_kubernetes_object_goes_through_the_cluster_provider(dev):
    provider = dev.one(K8S_PROVIDER)
    objects = [resource for resource in dev.resources if resource.type.startswith("kubernetes:")]
    assert len(objects) == 14
    for resource in objects:
        assert resource.provider == f"{provider.urn}::{provider.name}-id", resource.name


def test_model_bucket_is_private_uniform_and_emptied_on_destroy(dev):
    bucket = dev.one("gcp:storage/bucket:Bucket").inputs
    assert bucket["name"] == f"{TEST_PROJECT_ID}-bucket"
    assert bucket["location"] == "us-central1"
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["forceDestroy"] is True


def test_config_map_points_at_the_model_in_the_bucket(dev):
    config_map = dev.named(CONFIG_MAP, "serving-config").inputs
    assert re.fullmatch(r"tfserving-configs-[0-9a-f]{10}", config_map["metadata"]["name"]), (
        "the lab's name, content-named"
    )
    assert config_map["data"]["MODEL_NAME"] == "image_classifier"
    # The lab's folder, with one folder inside per model source: the roll is the only switch between models.
    assert re.fullmatch(rf"gs://{TEST_PROJECT_ID}-bucket/resnet_101/[0-9a-f]{{10}}", config_map["data"]["MODEL_PATH"])
    assert dev.outputs["modelPath"] == config_map["data"]["MODEL_PATH"]


def test_deployment_runs_the_labs_container_without_replicas(dev):
    deployment = dev.one(DEPLOYMENT).inputs
    assert deployment["metadata"]["name"] == "image-classifier"
    assert deployment["metadata"]["namespace"] == "tfserving"
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    tf_serving = container(dev)
    assert tf_serving["name"] == "tf-serving"
    assert tf_serving["image"] == "tensorflow/serving:2.8.0"
    assert tf_serving["args"] == [
        "--model_name=$(MODEL_NAME)",
        "--model_base_path=$(MODEL_PATH)",
        "--monitoring_config_file=/etc/tfserving/monitoring.config",
    ], "the lab's flags, plus the metrics endpoint; no tuning flag unless a setting asks"
    config_name = dev.named(CONFIG_MAP, "serving-config").inputs["metadata"]["name"]
    assert tf_serving["envFrom"] == [{"configMapRef": {"name": config_name}}]
    assert {(port["containerPort"], port["name"]) for port in tf_serving["ports"]} == {(8500, "grpc"), (8501, "http")}
    assert tf_serving["resources"] == {
        "requests": {"cpu": "3", "memory": "4Gi", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "4Gi", "ephemeral-storage": "2Gi"},
    }


def test_ready_means_the_model_is_loaded_and_a_slow_load_is_tolerated(dev):
    tf_serving = container(dev)
    readiness = tf_serving["readinessProbe"]
    script = readiness["exec"]["command"][-1]
    assert "/v1/models/$MODEL_NAME:predict" in script and "/v1/models/$MODEL_NAME/metadata" in script
    startup = tf_serving["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert tf_serving["livenessProbe"]["tcpSocket"] == {"port": 8500}


def test_deployment_waits_for_the_model_copy_and_its_identity(dev):
    deployment = dev.one(DEPLOYMENT)
    assert dev.one(COPY_JOB).urn in deployment.dependencies
    reader_grant = next(grant for grant in dev.of_type(BUCKET_MEMBER) if grant.name == "serving-reads-bucket")
    assert reader_grant.urn in deployment.dependencies
    binding = dev.named("gcp:serviceaccount/iAMMember:IAMMember", "serving-reader-workload-identity")
    assert binding.urn in deployment.dependencies
    assert dev.named("kubernetes:core/v1:ServiceAccount", "serving-reader-service-account").urn in (
        deployment.dependencies
    )


def test_a_config_change_is_a_new_config_map_the_deployment_rolls_onto(dev):
    """Content-named ConfigMaps: the provider makes the new one before deleting the old (a new name), and the
    Deployment's new reference rolls it; a fixed name would be replaced delete-first, and the Deployment with it."""

    def names(deployment) -> tuple[str, str]:
        env = deployment.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
        volume = next(
            v for v in deployment.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["volumes"] if "configMap" in v
        )
        return env["configMapRef"]["name"], volume["configMap"]["name"]

    same = run_program(stack_config("dev"))
    batching = run_program(stack_config("dev", serverBatching=True))
    renamed = run_program(stack_config("dev", modelName="resnet"))
    assert names(same) == names(dev)
    assert names(batching)[0] == names(dev)[0] and names(batching)[1] != names(dev)[1]
    assert names(renamed)[0] != names(dev)[0] and names(renamed)[1] == names(dev)[1]
    config_maps = dev.of_type(CONFIG_MAP)
    assert {c.name for c in config_maps} == {"serving-config", "serving-server-config"}
    assert not any(c.delete_before_replace for c in config_maps)
    assert "tfserving.dev/config-hash" not in dev.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["annotations"]


def test_serving_pods_read_the_bucket_through_workload_identity(dev):
    reader_email = account_email(dev, "cluster-1-serving")
    service_account = dev.named("kubernetes:core/v1:ServiceAccount", "serving-reader-service-account").inputs
    assert service_account["metadata"]["name"] == "image-classifier"
    assert service_account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": reader_email}
    pod_spec = dev.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == "image-classifier"

    binding = dev.named("gcp:serviceaccount/iAMMember:IAMMember", "serving-reader-workload-identity").inputs
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT_ID}.svc.id.goog[tfserving/image-classifier]"
    assert binding["serviceAccountId"].endswith(reader_email)

    reader_grants = [grant.inputs for grant in dev.of_type(BUCKET_MEMBER) if reader_email in grant.inputs["member"]]
    assert reader_grants == [
        {
            "bucket": f"{TEST_PROJECT_ID}-bucket",
            "role": "roles/storage.objectViewer",
            "member": f"serviceAccount:{reader_email}",
        }
    ]


def test_service_exposes_grpc_and_rest_through_a_load_balancer(dev):
    service = dev.one(SERVICE).inputs
    assert service["metadata"]["name"] == "image-classifier"
    assert service["spec"]["type"] == "LoadBalancer"
    ports = {(port["name"], port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
    assert ports == {("tf-serving-grpc", 8500, 8500), ("tf-serving-http", 8501, 8501)}
    assert "loadBalancerSourceRanges" not in service["spec"]
    pod_labels = dev.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == {"app": "image-classifier"}
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_autoscaler_targets_the_deployment_at_sixty_percent_cpu(dev):
    hpa = dev.one(HPA).inputs
    deployment = dev.one(DEPLOYMENT).inputs
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["maxReplicas"] == 4
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
    ]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()


def test_exports_what_a_user_and_the_load_test_need(dev):
    outputs = dev.outputs
    assert outputs["externalIp"] == EXTERNAL_IP
    assert outputs["restUrl"] == f"http://{EXTERNAL_IP}:8501"
    assert outputs["predictUrl"] == f"http://{EXTERNAL_IP}:8501/v1/models/image_classifier:predict"
    assert outputs["grpcTarget"] == f"{EXTERNAL_IP}:8500"
    assert (outputs["clusterName"], outputs["zone"]) == ("cluster-1", "us-central1-f")
    assert outputs["bucketName"] == f"{TEST_PROJECT_ID}-bucket"
    assert (outputs["namespace"], outputs["deploymentName"], outputs["hpaName"]) == (
        "tfserving",
        "image-classifier",
        "image-classifier",
    )
    assert outputs["nodePoolName"] == serving_pool(dev).inputs["name"]
    assert outputs["deploymentConsoleUrl"] == (
        "https://console.cloud.google.com/kubernetes/deployment/us-central1-f/cluster-1/tfserving/"
        f"image-classifier/overview?project={TEST_PROJECT_ID}"
    )
    assert outputs["nodePoolConsoleUrl"] == (
        "https://console.cloud.google.com/kubernetes/nodepool/us-central1-f/cluster-1/serving-pool"
        f"?project={TEST_PROJECT_ID}"
    )
    assert json.loads(outputs["kubeconfig"])["current-context"] == f"gke_{TEST_PROJECT_ID}_us-central1-f_cluster-1"
    assert dev.secret_outputs == {"kubeconfig"}


def test_components_group_the_resources_by_concern(dev):
    components = {resource.type: resource for resource in dev.resources if resource.type.startswith("tfserving:")}
    assert set(components) == {
        "tfserving:infra:ProjectApis",
        "tfserving:infra:StackNetwork",
        "tfserving:infra:Cluster",
        "tfserving:infra:ModelStore",
        "tfserving:infra:Serving",
        "tfserving:infra:WorkloadIdentity",
        "tfserving:infra:WarmCapacity",
    }
    parent_of = {
        resource.type: dev.by_urn(resource.parent).type
        for resource in dev.resources
        if resource.parent in {component.urn for component in components.values()}
    }
    assert parent_of[CLUSTER] == parent_of[NODE_POOL] == "tfserving:infra:Cluster"
    assert parent_of["gcp:compute/subnetwork:Subnetwork"] == "tfserving:infra:StackNetwork"
    assert parent_of[COPY_JOB] == "tfserving:infra:ModelStore"
    assert parent_of["gcp:projects/service:Service"] == "tfserving:infra:ProjectApis"
    assert parent_of[DEPLOYMENT] == parent_of[HPA] == parent_of[SERVICE] == "tfserving:infra:Serving"


def test_the_cluster_has_a_network_of_its_own_so_a_project_without_default_works(dev):
    """Organizations that skip default network creation give new projects none: "has no network named default"."""
    network = dev.one("gcp:compute/network:Network").inputs
    assert (network["name"], network["autoCreateSubnetworks"]) == ("cluster-1-net", False)
    subnet = dev.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["region"] == "us-central1" and subnet.inputs["privateIpGoogleAccess"] is True
    ranges = {r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]}
    cluster = dev.one(CLUSTER)
    policy = cluster.inputs["ipAllocationPolicy"]
    assert ranges == {policy["clusterSecondaryRangeName"], policy["servicesSecondaryRangeName"]}
    assert subnet.urn in cluster.dependencies
