"""Invalid settings stop the program before any resource exists, naming the key and the fix."""

from decimal import Decimal

import pytest
import yaml

from infra.node_fit import machine_type_problem, node_capacity
from infra.settings_bounds import CHOICES, RANGES
from tests.infra.harness import PROJECT_DIR, failure, refused_settings, run_program, stack_config


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"minReplicas": 5, "maxReplicas": 4}, "tfserving-gke:minReplicas (5) is above tfserving-gke:maxReplicas (4)"),
        (
            {"minNodes": 4, "maxNodes": 3, "initialNodes": 3},
            "tfserving-gke:minNodes (4) is above tfserving-gke:maxNodes",
        ),
        ({"initialNodes": 5}, "tfserving-gke:initialNodes (5) must lie between minNodes (1) and maxNodes (3)"),
        (
            {"cpuRequest": "3.6"},
            "tfserving-gke:cpuRequest (3.6) cannot fit a n1-standard-4 node, which leaves 3.52 CPU to a pod after "
            "GKE's reservation and the 0.4 CPU / 512Mi its DaemonSets take",
        ),
        ({"memoryRequest": "14Gi"}, "tfserving-gke:memoryRequest (14Gi) cannot fit a n1-standard-4 node"),
        ({"cpuRequest": "three"}, "tfserving-gke:cpuRequest 'three' is not a Kubernetes quantity"),
        ({"modelSource": "gs://"}, "tfserving-gke:modelSource 'gs://' is not a gs://bucket/path URI"),
        ({"modelSource": "gs://jk-models"}, "is not a gs://bucket/path URI"),
        ({"modelSource": "s3://models/resnet"}, "is neither a gs://bucket/path URI nor an existing directory"),
        ({"modelSource": "/no/such/model"}, "is neither a gs://bucket/path URI nor an existing directory"),
        ({"zone": "us-central1"}, "tfserving-gke:zone 'us-central1' is not a zone; use one like us-central1-f"),
        ({"zone": "US-Central1-F"}, "is not a zone"),
        (
            {"machineType": "n9-mega-4"},
            "tfserving-gke:machineType 'n9-mega-4' is not offered in us-central1-f (Compute Engine's list; it is not "
            "FAMILY-standard|highmem|highcpu-N",
        ),
        # Found by trying settings that passed validation and then failed at `up`.
        ({"machineType": "n1-standard-400"}, "n1-standard comes with 1, 2, 4, 8, 16, 32, 64, 96 vCPUs"),
        ({"systemMachineType": "e2-tiny"}, "tfserving-gke:systemMachineType 'e2-tiny' is not offered in us-central1-f"),
        ({"machineType": "custom-3-4096"}, "N1 custom types have 1, or an even number up to 96, vCPUs, not 3"),
        ({"bucketName": "google-models"}, "refuses names that start with 'goog' or contain 'google'"),
        ({"bucketName": "googmodels"}, "refuses names that start with 'goog'"),
        ({"bucketName": "my-google-bucket"}, "contain 'google'"),
        ({"bucketName": "192.168.5.4"}, "names with dots need a verified domain"),
        ({"bucketName": "my..bucket"}, "names with dots need a verified domain; use '-' instead"),
        ({"bucketName": "my.bucket"}, "names with dots need a verified domain"),
        ({"image": "tensorflow/serving: 2.8.0"}, "tfserving-gke:image 'tensorflow/serving: 2.8.0' is not an image"),
        ({"image": "TensorFlow/serving:2.8.0"}, "(lowercase repository, no spaces)"),
        ({"image": "tensorflow/serving:"}, "is not an image reference"),
        ({"modelCopyImage": "gcloud"}, "tfserving-gke:modelCopyImage 'gcloud' has no tag or digest"),
        (
            {"namespace": "kube-system"},
            "tfserving-gke:namespace 'kube-system' is one of Kubernetes' or GKE's own namespaces",
        ),
        ({"namespace": "kube-anything"}, "is one of Kubernetes' or GKE's own namespaces"),
        ({"modelFolder": "models/../etc"}, "tfserving-gke:modelFolder 'models/../etc' must be a folder path"),
        ({"modelFolder": ".."}, "without empty, '.' or '..' parts"),
        ({"memoryRequest": 4}, "tfserving-gke:memoryRequest '4' is 4 bytes, too little for TF Serving; give a unit"),
        ({"memoryRequest": "4 Gi"}, "tfserving-gke:memoryRequest '4 Gi' is not a Kubernetes quantity"),
        ({"memoryRequest": "100Mi"}, "too little for TF Serving"),
        ({"memoryLimit": "200000000"}, "tfserving-gke:memoryLimit '200000000' is 200000000 bytes"),
        ({"cpuRequest": " 3"}, "tfserving-gke:cpuRequest ' 3' is not a Kubernetes quantity"),
        ({"nodePoolName": "1pool"}, "tfserving-gke:nodePoolName '1pool' must start with a letter"),
        ({"modelName": ".."}, "tfserving-gke:modelName '..' must be 1-63 letters"),
        ({"modelName": "m" * 300}, "must be 1-63 letters"),
        ({"modelSource": "gs://bucket//"}, "tfserving-gke:modelSource 'gs://bucket//' is not a gs://bucket/path URI"),
        ({"modelSource": "gs://bucket/a//b"}, "is not a gs://bucket/path URI"),
        ({"modelSource": "gs://bucket/../x"}, "is not a gs://bucket/path URI"),
        ({"releaseChannel": "BETA"}, "tfserving-gke:releaseChannel 'BETA' is not a release channel"),
        ({"image": "tensorflow/serving"}, "has no tag or digest; pin one"),
        ({"bucketName": "Bad_Bucket!"}, "tfserving-gke:bucketName 'Bad_Bucket!' is not a valid bucket name"),
        ({"clusterName": "a-cluster-name-far-too-long"}, "at most 22 characters"),
        ({"targetCpuUtilization": 0}, "tfserving-gke:targetCpuUtilization is 0; set it between 1 and 100"),
        ({"maxReplicas": "many"}, "tfserving-gke:maxReplicas must be a whole number"),
        ({"deletionProtection": "yes"}, "tfserving-gke:deletionProtection must be true or false"),
        ({"allowedSourceRanges": ["10.0.0.300/8"]}, "is not a CIDR range"),
        ({"controlPlaneAuthorizedNetworks": ["my-office"]}, "tfserving-gke:controlPlaneAuthorizedNetworks entry"),
        ({"memoryLimit": "2Gi"}, "tfserving-gke:memoryLimit (2Gi) is below tfserving-gke:memoryRequest (4Gi)"),
        ({"privateNodes": "maybe"}, "tfserving-gke:privateNodes must be true or false"),
        ({"allowedSourceRanges": "10.0.0.0/8"}, "must be a list of strings"),
        ({"gcp:project": ""}, "gcp:project is not set; run `pulumi config set gcp:project"),
    ],
)
def test_invalid_setting_fails_with_its_key_and_fix(monkeypatch, overrides, expected):
    assert expected in failure(monkeypatch, **overrides)


def test_all_problems_are_reported_together(monkeypatch):
    message = failure(monkeypatch, minReplicas=9, cpuRequest="8", zone="nowhere")
    assert message.count("\n  - ") == 3


def test_local_model_directory_needs_a_version_folder(monkeypatch, tmp_path):
    (tmp_path / "variables").mkdir()
    message = failure(monkeypatch, modelSource=str(tmp_path))
    assert "holds no version folder with a SavedModel" in message


def test_one_replica_per_node_and_a_pending_fourth_replica_are_the_labs_design(dev):
    """More replicas than nodes is accepted, not refused: the lab's 4th replica stays Pending on 3 nodes."""
    hpa = dev.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    pool = dev.named("gcp:container/nodePool:NodePool", "gke-pool").inputs
    assert hpa["maxReplicas"] == 4 > pool["autoscaling"]["maxNodeCount"] == 3


@pytest.mark.parametrize(
    ("machine_type", "cpu", "memory_mib"),
    [
        # 15 GiB less 25% of 4, 20% of 4 and 10% of 7 GiB, less the 100 MiB eviction threshold.
        ("n1-standard-4", Decimal("3.92"), 15 * 1024 - 2560 - 100),
        ("n1-standard-1", Decimal("0.94"), 3840 - 960 - 100),
        ("e2-standard-8", Decimal("7.91"), 32 * 1024 - 1024 - 819.2 - 819.2 - 0.06 * 16 * 1024 - 100),
        ("custom-6-16384", Decimal("5.915"), 16384 - 1024 - 819.2 - 819.2 - 100),
    ],
)
def test_allocatable_resources_follow_gkes_reservations(machine_type, cpu, memory_mib):
    capacity = node_capacity(machine_type)
    assert capacity is not None
    assert capacity.allocatable_cpu == cpu
    assert float(capacity.allocatable_memory_bytes / 2**20) == pytest.approx(memory_mib)


def test_unknown_machine_types_have_no_capacity():
    assert node_capacity("e2-micro") is None
    assert node_capacity("n9-standard-4") is None
    assert node_capacity("n1-standard-400") is None


@pytest.mark.parametrize(
    "machine_type", ["n1-standard-4", "n2-standard-8", "e2-medium", "e2-standard-2", "c3-standard-22", "custom-6-16384"]
)
def test_real_machine_types_pass(machine_type):
    assert machine_type_problem(machine_type) is None


def test_the_lab_replica_fits_its_node_after_gkes_daemonsets():
    capacity = node_capacity("n1-standard-4")
    assert capacity is not None
    assert capacity.schedulable_cpu == Decimal("3.52") >= Decimal(3)
    assert capacity.schedulable_memory_bytes >= 4 * 2**30


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # A trailing newline (a value pasted from a file) passed every pattern that ended in `$`.
        ({"zone": "us-central1-f\n"}, "tfserving-gke:zone 'us-central1-f\\n' is not a zone"),
        ({"clusterName": "cluster-1\n"}, "tfserving-gke:clusterName 'cluster-1\\n' must start with a letter"),
        ({"nodePoolName": "serving-pool\n"}, "tfserving-gke:nodePoolName 'serving-pool\\n' must start with a letter"),
        ({"bucketName": "my-bucket\n"}, "tfserving-gke:bucketName 'my-bucket\\n' is not a valid bucket name"),
        ({"image": "tensorflow/serving:2.8.0\n"}, "tfserving-gke:image 'tensorflow/serving:2.8.0\\n' is not an image"),
        ({"namespace": "tfserving\n"}, "tfserving-gke:namespace 'tfserving\\n' is not a valid namespace name"),
        ({"modelName": "resnet\n"}, "tfserving-gke:modelName 'resnet\\n' must be 1-63 letters"),
        # Zones in the right shape that Compute Engine does not have (asked of it, as getZones).
        ({"zone": "us-central1-z"}, "tfserving-gke:zone 'us-central1-z' is not a zone of us-central1, which has"),
        ({"zone": "europe-west4-d"}, "'europe-west4-d' is not a zone of europe-west4, which has europe-west4-a, "),
        ({"zone": "mars-north1-a"}, "tfserving-gke:zone 'mars-north1-a' is in no region Compute Engine has"),
        # Names the stack or GKE already own.
        ({"nodePoolName": "system-pool"}, "'system-pool' is the name of the stack's own system pool"),
        ({"nodePoolName": "load-pool"}, "'load-pool' is the name of the stack's own load-generator pool"),
        ({"namespace": "gmp-public"}, "'gmp-public' is one of Kubernetes' or GKE's own namespaces"),
        ({"namespace": "gmp-system"}, "'gmp-system' is one of Kubernetes' or GKE's own namespaces"),
        ({"namespace": "gke-managed-cim"}, "is one of Kubernetes' or GKE's own namespaces"),
        # A bare address is a valid Python network, but Google's APIs want the prefix.
        (
            {"controlPlaneAuthorizedNetworks": ["203.0.113.7"]},
            "tfserving-gke:controlPlaneAuthorizedNetworks entry '203.0.113.7' is not a CIDR range",
        ),
        ({"allowedSourceRanges": ["203.0.113.7"]}, "tfserving-gke:allowedSourceRanges entry '203.0.113.7' is not a"),
        (
            {"controlPlaneAuthorizedNetworks": [f"10.0.{index}.0/24" for index in range(51)]},
            "tfserving-gke:controlPlaneAuthorizedNetworks lists 51 ranges; GKE takes at most 50",
        ),
        ({"image": "tensorflow/serving:2.8.0-gpu"}, "is TF Serving's GPU build (a pull of several GB) on a CPU stack"),
        ({"gcp:project": "proj"}, "gcp:project 'proj' is not a project ID"),
        ({"gcp:project": "1project-123"}, "gcp:project '1project-123' is not a project ID"),
        # Keys of the project that Pulumi.yaml does not declare: typos the CLI keeps without a word.
        ({"minReplica": 2}, "tfserving-gke:minReplica is not a setting of this project; did you mean minReplicas?"),
        ({"MinReplicas": 2}, "tfserving-gke:MinReplicas is not a setting of this project; did you mean minReplicas?"),
        (
            {"spareReplica": 1},
            "did you mean spareReplicas? remove it with `pulumi config rm tfserving-gke:spareReplica`",
        ),
    ],
)
def test_values_gcp_or_kubernetes_would_refuse_later_are_refused_first(monkeypatch, overrides, expected):
    assert expected in failure(monkeypatch, **overrides)


def test_a_bad_project_is_not_blamed_on_the_bucket_that_was_never_set(monkeypatch):
    refusal = failure(monkeypatch, **{"gcp:project": "proj"})
    assert "bucketName" not in refusal


@pytest.mark.parametrize("stack", ["_x", "x.", "s" * 64])
def test_a_stack_name_kubernetes_refuses_as_a_label_value_is_refused(monkeypatch, stack):
    refusal = refused_settings(monkeypatch, stack_config("dev"), stack=stack)
    assert f"The stack's name {stack!r} becomes the label app.kubernetes.io/instance" in refusal


@pytest.mark.parametrize("machine_type", ["n1-standard-4", "custom-6-16384"])
def test_valid_values_are_still_accepted(machine_type):
    deployment = run_program(
        stack_config("dev", machineType=machine_type, controlPlaneAuthorizedNetworks=["203.0.113.0/24"])
    )
    pool = deployment.named("gcp:container/nodePool:NodePool", "gke-pool").inputs
    assert pool["nodeConfig"]["machineType"] == machine_type


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        # 4e9 bytes is a valid quantity of 4 GB; it was refused for ending in a digit.
        ({"memoryRequest": "4e9"}, lambda d: d["memory"] == "4e9"),
        (
            {
                "machineType": "custom-4-15360",
                "accelerator": "nvidia-tesla-t4",
                "image": "tensorflow/serving:2.8.0-gpu",
            },
            lambda d: d["memory"] == "4Gi",
        ),  # an N1 custom type takes a T4
        ({"machineType": "n2-custom-8-32768-ext"}, lambda d: d["memory"] == "4Gi"),
    ],
)
def test_valid_values_the_checks_once_refused_are_accepted(overrides, check):
    deployment = run_program(stack_config("dev", **overrides))
    container = deployment.named("kubernetes:apps/v1:Deployment", "serving-deployment").inputs["spec"]["template"]
    assert check(container["spec"]["containers"][0]["resources"]["requests"])


def test_a_bad_memory_request_is_said_once_not_blamed_on_the_unset_limit(monkeypatch):
    refusal = failure(monkeypatch, memoryRequest="4 Gi")
    assert "memoryRequest '4 Gi'" in refusal and "memoryLimit" not in refusal


def test_every_whole_number_setting_has_its_range_and_every_fixed_choice_its_list():
    """settings_bounds.py is where validation and docs/settings.md read bounds: it must cover what Pulumi.yaml has."""
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert set(RANGES) == {name for name, spec in declared.items() if spec["type"] == "integer"}
    for name, bounds in RANGES.items():
        assert bounds.minimum <= declared[name]["default"] <= bounds.maximum, name
    for name, choices in CHOICES.items():
        assert declared[name]["default"] in choices.values, name


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_range_is_what_the_program_refuses_beyond(monkeypatch, name):
    bounds = RANGES[name]
    assert f"tfserving-gke:{name} is {bounds.maximum + 1}; set it between {bounds.minimum} and {bounds.maximum}" in (
        failure(monkeypatch, **{name: bounds.maximum + 1})
    )


def test_a_stack_beside_dev_in_its_namespace_is_warned_of_the_shared_identity(monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr("pulumi.log.warn", lambda message, *args, **kwargs: warned.append(message))
    run_program(stack_config("dev"))
    run_program(stack_config("gpu"), stack="gpu")
    assert warned == []
    run_program(stack_config("dev"), stack="staging")
    assert len(warned) == 1 and "share a Workload Identity principal" in warned[0]


def test_compute_engine_describes_the_machine_types_it_offers_in_the_zone(monkeypatch):
    # A series the table does not know: what Compute Engine lists decides, in the zones that offer it.
    assert run_program(stack_config("dev", machineType="n4d-standard-8", zone="us-central1-a")).one(
        "gcp:container/cluster:Cluster"
    )
    assert "tfserving-gke:machineType 'n4d-standard-8' is not offered in us-central1-f" in failure(
        monkeypatch, machineType="n4d-standard-8"
    )
    assert "'c4a-standard-8' is an Arm machine, and TF Serving's images" in failure(
        monkeypatch, machineType="c4a-standard-8"
    )


def test_the_table_says_where_compute_engine_cannot_be_asked_yet(monkeypatch):
    """A new project's first preview, before its Compute Engine API is enabled."""
    monkeypatch.setattr("infra.machine_types.offered", lambda *_args: None)
    assert "tfserving-gke:machineType 'n9-mega-4' is not a Compute Engine machine type" in failure(
        monkeypatch, machineType="n9-mega-4"
    )
    assert "is an Arm machine" in failure(monkeypatch, machineType="c4a-standard-8")


def test_the_newer_series_highcpu_types_have_2_gb_per_vcpu():
    for machine_type in ("n4-highcpu-8", "c3-highcpu-8", "c3d-highcpu-8", "c4-highcpu-8"):
        capacity = node_capacity(machine_type)
        assert capacity is not None and capacity.memory_bytes == 16 * 2**30, machine_type
    assert node_capacity("n2-highcpu-8").memory_bytes == 8 * 2**30  # pyright: ignore[reportOptionalMemberAccess]
    assert node_capacity("t2d-standard-8") is not None
