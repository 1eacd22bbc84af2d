"""What a first `pulumi up` on a fresh project, a later `up` and `destroy` would otherwise meet."""

import re

import pytest
from kubernetes.utils.quantity import parse_quantity

from infra import apis, timing
from infra.node_fit import node_capacity
from infra.node_pools import GPU_RESOURCE
from tests.infra.harness import PROJECT_DIR, TEST_PROJECT_ID, Deployment, run_program, stack_config

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
API = "gcp:projects/service:Service"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET = f"{TEST_PROJECT_ID}-bucket"


def email(account_id: str) -> str:
    return f"{account_id}@{TEST_PROJECT_ID}.iam.gserviceaccount.com"


def seconds(timeout: str) -> int:
    match = re.fullmatch(r"(\d+)m", timeout)
    assert match, timeout
    return int(match[1]) * 60


def copy_job(deployment: Deployment) -> dict:
    return deployment.one(JOB).inputs


def copy_container(deployment: Deployment) -> dict:
    (container,) = copy_job(deployment)["spec"]["template"]["spec"]["containers"]
    return container


def env(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


# 1. The model copy


def test_the_copy_is_a_job_in_the_cluster_from_the_public_source_into_the_model_folder(dev):
    job = copy_job(dev)
    assert job["metadata"]["namespace"] == "tfserving"
    assert re.fullmatch(r"model-copy-[0-9a-f]{10}", job["metadata"]["name"])
    container = copy_container(dev)
    assert container["image"] == "gcr.io/google.com/cloudsdktool/google-cloud-cli:583.0.0-stable"
    assert env(container)["SOURCE"] == "gs://spls/gsp777/resnet_101"
    model_path = dev.named("kubernetes:core/v1:ConfigMap", "serving-config").inputs["data"]["MODEL_PATH"]
    assert env(container)["DESTINATION"] == model_path, "the serving pods read the folder the copy fills"
    assert re.fullmatch(rf"gs://{BUCKET}/resnet_101/[0-9a-f]{{10}}", model_path)
    script = container["command"][-1]
    assert "gcloud storage rsync --recursive --delete-unmatched-destination-objects" in script
    assert "saved_model" in script and "exit 1" in script, "a copy without a SavedModel must fail"
    # Its own error reaches `pulumi up`: the last log lines become the pod's termination message.
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_copier_may_write_only_the_model_bucket(dev):
    copier = email("cluster-1-copier")
    members = [grant.inputs for grant in dev.of_type(BUCKET_MEMBER)]
    grants = {(member["bucket"], member["role"]) for member in members if copier in member["member"]}
    assert grants == {(BUCKET, "roles/storage.objectAdmin"), (BUCKET, "roles/storage.legacyBucketReader")}
    project_members = [g.inputs["member"] for g in dev.of_type("gcp:projects/iAMMember:IAMMember")]
    assert all(copier not in member for member in project_members)
    account = dev.named("kubernetes:core/v1:ServiceAccount", "model-copier-service-account").inputs
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": copier}
    assert copy_job(dev)["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    binding = dev.named("gcp:serviceaccount/iAMMember:IAMMember", "model-copier-workload-identity").inputs
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT_ID}.svc.id.goog[tfserving/model-copy]"


def test_up_waits_for_the_copy_which_waits_for_its_permissions(dev):
    job = dev.one(JOB)
    for grant in dev.of_type(BUCKET_MEMBER):
        if "copier" in grant.inputs["member"]:
            assert grant.urn in job.dependencies
    assert dev.named("gcp:serviceaccount/iAMMember:IAMMember", "model-copier-workload-identity").urn in (
        job.dependencies
    )
    # pulumi-kubernetes awaits a Job until Complete and fails it on Failed; it must outlast the Job's deadline.
    spec = job.inputs["spec"]
    assert spec["activeDeadlineSeconds"] == timing.MODEL_COPY_DEADLINE_SECONDS
    assert spec["backoffLimit"] >= 3, "new IAM grants take minutes: retry meanwhile"
    assert "ttlSecondsAfterFinished" not in spec, "a vanished Job would be copied again on the next refresh"
    assert seconds(job.custom_timeouts["create"]) > spec["activeDeadlineSeconds"]
    assert dev.one(JOB).urn in dev.one(DEPLOYMENT).dependencies


def test_a_new_source_is_a_new_copy_and_rolls_the_pods(dev):
    other = run_program(stack_config("dev", modelSource="gs://jk-models/resnet_101"))
    assert copy_job(other)["metadata"]["name"] != copy_job(dev)["metadata"]["name"]
    assert env(copy_container(other))["SOURCE"] == "gs://jk-models/resnet_101"
    # Its own folder: the pods still serving the old model never see the new one land beside it.
    assert env(copy_container(other))["DESTINATION"] != env(copy_container(dev))["DESTINATION"]

    def revision(deployment: Deployment) -> str:
        return deployment.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["annotations"][
            "tfserving.dev/model-revision"
        ]

    assert revision(other) != revision(dev)
    again = run_program(stack_config("dev"))
    assert (copy_job(again)["metadata"]["name"], revision(again)) == (copy_job(dev)["metadata"]["name"], revision(dev))


def test_a_local_model_is_uploaded_and_a_changed_file_rolls_the_pods(tmp_path):
    version = tmp_path / "1"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    (version / "variables" / "variables.index").write_bytes(b"index")
    first = run_program(stack_config("dev", modelSource=str(tmp_path)))
    assert not first.of_type(JOB)

    def object_names(deployment: Deployment) -> set[str]:
        return {obj.inputs["name"] for obj in deployment.of_type("gcp:storage/bucketObject:BucketObject")}

    inside_folder = {name.split("/", 2)[2] for name in object_names(first)}
    assert inside_folder == {"1/saved_model.pb", "1/variables/variables.index"}
    (version / "saved_model.pb").write_bytes(b"another graph")
    second = run_program(stack_config("dev", modelSource=str(tmp_path)))
    assert not object_names(first) & object_names(second), "the new model lands beside the served one, not over it"
    annotation = "tfserving.dev/model-revision"

    def template(deployment: Deployment) -> dict:
        return deployment.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["annotations"]

    assert template(first)[annotation] != template(second)[annotation]


# 2. APIs


def test_every_api_the_stack_calls_is_enabled_and_kept_on_destroy(dev):
    enabled = {api.inputs["service"]: api for api in dev.of_type(API)}
    assert set(enabled) == {
        "compute.googleapis.com",
        "container.googleapis.com",
        "iam.googleapis.com",
        "cloudresourcemanager.googleapis.com",
        "storage.googleapis.com",
    }
    assert all(api.inputs["disableOnDestroy"] is False for api in enabled.values())


def api_urn(deployment: Deployment, service: str) -> str:
    return next(api.urn for api in deployment.of_type(API) if api.inputs["service"] == service)


def test_each_resource_waits_for_the_api_it_calls(dev):
    cluster = dev.one(CLUSTER)
    assert {api_urn(dev, apis.CONTAINER), api_urn(dev, apis.COMPUTE)} <= set(cluster.dependencies)
    for account in dev.of_type(ACCOUNT):
        assert api_urn(dev, apis.IAM) in account.dependencies, account.name
    for grant in dev.of_type("gcp:projects/iAMMember:IAMMember"):
        assert api_urn(dev, apis.RESOURCE_MANAGER) in grant.dependencies, grant.name
    assert api_urn(dev, apis.STORAGE) in dev.one("gcp:storage/bucket:Bucket").dependencies


def test_router_and_nat_wait_for_the_compute_api():
    private = run_program(stack_config("dev", privateNodes=True))
    for type_ in ("gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat"):
        assert api_urn(private, apis.COMPUTE) in private.one(type_).dependencies


# 3. The cluster's short-lived default pool


def test_the_default_pool_runs_as_the_node_account_and_does_not_replace_the_cluster_later(dev):
    cluster = dev.one(CLUSTER)
    assert cluster.inputs["nodeConfig"]["serviceAccount"] == email("cluster-1-nodes")
    grants = [grant.urn for grant in dev.of_type("gcp:projects/iAMMember:IAMMember")]
    assert set(grants) <= set(cluster.dependencies)
    assert cluster.ignore_changes == ["nodeConfig"]


# 4 and 9. The Kubernetes provider


def test_provider_keeps_state_on_an_unreachable_cluster_and_follows_the_clusters_identity(dev):
    provider = dev.one("pulumi:providers:kubernetes").inputs
    assert "deleteUnreachable" not in provider
    cluster_id = f"projects/{TEST_PROJECT_ID}/locations/us-central1-f/clusters/cluster-1"
    assert provider["clusterIdentifier"] == cluster_id


# 5. Timeouts


def test_every_wait_outlasts_the_longest_honest_first_start(dev):
    deployment = dev.one(DEPLOYMENT)
    startup = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    model_load = startup["periodSeconds"] * startup["failureThreshold"]
    progress_deadline = deployment.inputs["spec"]["progressDeadlineSeconds"]
    assert progress_deadline >= model_load + 120, "a node boot and an image pull come before the model loads"
    service = dev.one(SERVICE)
    for resource in (deployment, service):
        assert seconds(resource.custom_timeouts["create"]) > progress_deadline, resource.name
        assert seconds(resource.custom_timeouts["update"]) > progress_deadline, resource.name
    # The Service's endpoints become ready with the same pods, so it starts when they do.
    assert dev.one(JOB).urn in service.dependencies


# 6 and 8. Node pools


def test_a_later_up_never_replaces_a_pool_over_its_node_count(dev):
    for pool in dev.of_type(NODE_POOL):
        assert pool.ignore_changes == ["initialNodeCount"], pool.name
        assert "nodeCount" not in pool.inputs


def test_gkes_own_pods_get_a_small_system_pool_and_serving_nodes_keep_to_serving(dev):
    system = dev.named(NODE_POOL, "gke-system-pool").inputs
    assert system["nodeConfig"]["machineType"] == "e2-standard-2"
    assert "taints" not in system["nodeConfig"]
    assert system["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 2}
    serving = dev.named(NODE_POOL, "gke-pool").inputs
    (taint,) = serving["nodeConfig"]["taints"]
    assert taint == {"key": "tfserving.dev/serving", "value": "true", "effect": "NO_SCHEDULE"}
    pod = dev.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "tfserving.dev/serving", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "serving-pool"}
    copy_pod = copy_job(dev)["spec"]["template"]["spec"]
    assert "tolerations" not in copy_pod, "the copy runs on the system pool, never in a serving replica's room"


@pytest.mark.parametrize(("stack", "per_node"), [("dev", 1), ("prod", 1), ("gpu", 1)])
def test_each_example_stack_fits_its_serving_replicas_on_its_nodes(stack, per_node):
    """The settings are accepted, and the serving pool's nodes each hold the replicas the stack's comments say."""
    deployment = run_program(stack_config(stack), stack=stack)
    pool = deployment.named("gcp:container/nodePool:NodePool", "gke-pool").inputs
    pod = deployment.named(DEPLOYMENT, "serving-deployment").inputs["spec"]["template"]["spec"]
    resources = next(c for c in pod["containers"] if c["name"] == "tf-serving")["resources"]
    capacity = node_capacity(pool["nodeConfig"]["machineType"])
    assert capacity is not None
    fits = min(
        capacity.schedulable_cpu // parse_quantity(resources["requests"]["cpu"]),
        capacity.schedulable_memory_bytes // parse_quantity(resources["requests"]["memory"]),
    )
    if GPU_RESOURCE in resources.get("limits", {}):
        fits = min(fits, len(pool["nodeConfig"]["guestAccelerators"]))
    assert fits == per_node


def test_no_traffic_may_reach_the_copy_and_it_reaches_only_cloud_storage(dev):
    policy = dev.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "model-copy-network-policy").inputs
    pod_labels = copy_job(dev)["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]
    assert {rule["ports"][0]["port"] for rule in policy["spec"]["egress"]} == {53, 443, 80, 988}


def test_deletion_protection_stops_destroy_before_anything_is_deleted(dev):
    """Pulumi's protect on the cluster fails `destroy` in its preview; GKE's flag alone fails only at the cluster,
    after every Kubernetes object and pool is gone (a bare control plane that bills)."""
    prod = run_program(stack_config("prod"), stack="prod")
    protected = prod.one("gcp:container/cluster:Cluster")
    assert protected.inputs["deletionProtection"] is True and protected.protect is True
    assert dev.one("gcp:container/cluster:Cluster").protect is False
    # Only the cluster: a protected Job or pool could not be replaced by a later `up`.
    assert [r.name for r in prod.resources if r.protect] == [protected.name]


def test_each_pool_boots_the_disk_it_needs_and_the_lab_fits_a_new_projects_ssd_quota():
    deployment = run_program(stack_config("dev", loadGeneratorNodes=4))
    pools = {pool.name: pool for pool in deployment.of_type("gcp:container/nodePool:NodePool")}
    disks = {name: pool.inputs["nodeConfig"]["diskSizeGb"] for name, pool in pools.items()}
    assert disks == {"gke-pool": 100, "gke-system-pool": 30, "gke-load-pool": 30}
    # At full scale: 3 serving, 2 system and 4 load nodes against the 500 GB SSD_TOTAL_GB of many new projects.
    full = {"gke-pool": 3, "gke-system-pool": 2, "gke-load-pool": 4}
    assert sum(disks[name] * nodes for name, nodes in full.items()) == 480 <= 500
    assert (
        run_program(stack_config("dev", diskSizeGb=50))
        .named("gcp:container/nodePool:NodePool", "gke-pool")
        .inputs["nodeConfig"]["diskSizeGb"]
        == 50
    )


def test_a_pool_replaced_under_its_own_name_is_deleted_first(dev):
    """GKE refuses a second pool of one name: create-before-delete would fail the replacement with 409, every time."""
    assert all(pool.delete_before_replace for pool in dev.of_type("gcp:container/nodePool:NodePool"))


@pytest.mark.parametrize(("stack", "max_unavailable"), [("dev", "50%"), ("prod", "13%"), ("gpu", "34%")])
def test_rollouts_take_down_what_a_full_pool_needs_at_max_replicas(stack, max_unavailable):
    """dev: 4 replicas on 3 slots; gpu: 3 on 3; prod: 8 on 8 (infra/rollout.py; tests/engine/test_rollout.py)."""
    deployment = run_program(stack_config(stack), stack=stack)
    strategy = deployment.named(DEPLOYMENT, "serving-deployment").inputs["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": max_unavailable}}


def test_dev_and_gpu_side_by_side_need_the_ssd_quota_docs_gpu_asks_for(dev, gpu):
    def full_scale_gb(deployment) -> int:
        most = {"gke-pool": 3, "gke-system-pool": 2}
        pools = deployment.of_type("gcp:container/nodePool:NodePool")
        return sum(pool.inputs["nodeConfig"]["diskSizeGb"] * most[pool.name] for pool in pools)

    assert full_scale_gb(dev) + full_scale_gb(gpu) == 720 > 500
    assert "720 GB for both" in (PROJECT_DIR / "docs" / "gpu.md").read_text().replace("\n", " ")
