"""Invalid settings stop the program before any resource exists, naming the key and the fix."""

from decimal import Decimal

import pytest

from infra.capacity import node_capacity
from infra.settings import SettingsError
from tests.infra.harness import RecordingMonitor, run_program, stack_config


def failure(monkeypatch, **overrides) -> str:
    registered: list = []
    original = RecordingMonitor.RegisterResource

    def spy(self, request):
        registered.append(request.type)
        return original(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    with pytest.raises(SettingsError) as raised:
        run_program(stack_config("dev", **overrides))
    assert [kind for kind in registered if kind != "pulumi:pulumi:Stack"] == [], "nothing may be registered"
    return str(raised.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"minReplicas": 5, "maxReplicas": 4}, "tfserving-gke:minReplicas (5) is above tfserving-gke:maxReplicas (4)"),
        (
            {"minNodes": 4, "maxNodes": 3, "initialNodes": 3},
            "tfserving-gke:minNodes (4) is above tfserving-gke:maxNodes",
        ),
        ({"initialNodes": 5}, "tfserving-gke:initialNodes (5) must lie between minNodes (1) and maxNodes (3)"),
        ({"cpuRequest": "4"}, "tfserving-gke:cpuRequest (4) cannot fit a n1-standard-4 node, which leaves 3.92 CPU"),
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
            "tfserving-gke:machineType 'n9-mega-4' is not a machine type whose size is known",
        ),
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


def test_one_replica_per_node_and_a_pending_fourth_replica_are_the_labs_design():
    """4 replicas on at most 3 nodes is valid: the 4th stays Pending, as the lab shows."""
    run_program(stack_config("dev", maxReplicas=4, maxNodes=3))


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
