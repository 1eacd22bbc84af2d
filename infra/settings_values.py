"""The typed values the components receive: one frozen dataclass per concern, read and checked by settings.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.existing_settings import ExistingClusterSettings


@dataclass(frozen=True)
class GcsModelSource:
    """A SavedModel folder in Cloud Storage, copied server-side into the model bucket."""

    bucket: str
    path: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.path}"


@dataclass(frozen=True)
class LocalModelSource:
    """A SavedModel folder on the deployer's disk, uploaded file by file."""

    directory: Path


ModelSource = GcsModelSource | LocalModelSource


@dataclass(frozen=True)
class ClusterSettings:
    project: str
    zone: str
    name: str
    release_channel: str
    deletion_protection: bool
    node_pool_name: str
    machine_type: str
    min_nodes: int
    max_nodes: int
    initial_nodes: int
    disk_size_gb: int
    system_machine_type: str
    # None for CPU serving (the lab), else the GPU type each serving node carries.
    accelerator: str | None
    spot_nodes: bool
    hpa_profile: str
    load_generator_nodes: int
    private_nodes: bool
    control_plane_authorized_networks: tuple[str, ...]

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]


@dataclass(frozen=True)
class ModelSettings:
    source: ModelSource
    bucket_name: str
    folder: str
    name: str
    copy_image: str


@dataclass(frozen=True)
class ServerTuning:
    """TF Serving's flags for the pod it runs in; 0 and False keep its own defaults (the lab's behaviour)."""

    intra_op_threads: int
    inter_op_threads: int
    rest_api_threads: int
    batching: bool


@dataclass(frozen=True)
class ServingSettings:
    instance: str
    namespace: str
    image: str
    cpu_request: str
    memory_request: str
    memory_limit: str
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    allowed_source_ranges: tuple[str, ...]
    spare_replicas: int
    tuning: ServerTuning


@dataclass(frozen=True)
class Settings:
    cluster: ClusterSettings
    model: ModelSettings
    serving: ServingSettings
    # None: the stack creates its own GKE cluster (the lab).
    existing_cluster: ExistingClusterSettings | None
