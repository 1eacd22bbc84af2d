"""Every setting of the stack, read and validated in one place.

Defaults live in Pulumi.yaml's config schema (the CLI applies them); this
module reads the values, checks them together and hands typed values to the
components. Nothing else reads `pulumi.Config`. All problems are gathered and
raised at once, before any resource is registered.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pulumi
import yaml
from kubernetes.utils.quantity import parse_quantity

from infra.accelerators import ACCELERATORS, NONE, gpu_problems
from infra.capacity import DAEMONSET_CPU, DAEMONSET_MEMORY_BYTES, GIB, MIB, machine_type_problem, node_capacity
from infra.existing_settings import ExistingClusterSettings, read_existing_cluster

RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED")
HPA_PROFILES = ("PERFORMANCE", "NONE")

_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_GCS_URI = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(?P<path>\S+?)/?$")
# Cloud Storage's naming rules ("Bucket names"); dotted names are refused below, with the reason.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_IP_ADDRESS_FORM = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# Service-account ids derived from the cluster name must stay within 30 characters.
_CLUSTER_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,20}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# GKE's rule for node pool names: a leading letter, at most 40 characters.
_NODE_POOL_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
# TF Serving puts the model name in URLs and metric labels; keep it a short, plain name.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
_VERSION_FOLDER = re.compile(r"^\d+$")
# The Docker reference grammar (distribution/reference): an optional registry host (a first part with a
# dot or a port, or localhost), a lowercase repository path, and a non-empty tag and/or a sha256 digest.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+|localhost)/"
_IMAGE = re.compile(
    rf"^(?:{_REGISTRY})?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
# Kubernetes keeps kube-* namespaces for itself; the program would create and label the namespace.
_RESERVED_NAMESPACE_PREFIX = "kube-"
PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"
# A memory quantity without a unit is bytes; below this it cannot hold TF Serving and is surely a slip.
_MEMORY_FLOOR = 256 * MIB


class SettingsError(ValueError):
    """One or more settings are invalid; the message names each key and its fix."""


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


class _Reader:
    """Reads keys of one namespace, collecting every problem instead of stopping at the first."""

    def __init__(self, config: pulumi.Config, problems: list[str]) -> None:
        self._config = config
        self._problems = problems

    def key(self, name: str) -> str:
        return self._config.full_key(name)

    def text(self, name: str) -> str:
        return self._config.get(name) or ""

    def integer(self, name: str, minimum: int, maximum: int) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            self._problems.append(f"{self.key(name)} must be a whole number, not {raw!r}.")
            return minimum
        if not minimum <= value <= maximum:
            self._problems.append(f"{self.key(name)} is {value}; set it between {minimum} and {maximum}.")
        return value

    def flag(self, name: str) -> bool:
        raw = self.text(name).lower()
        if raw not in ("true", "false"):
            self._problems.append(f"{self.key(name)} must be true or false, not {raw!r}.")
        return raw == "true"

    def text_list(self, name: str) -> tuple[str, ...]:
        raw = self.text(name) or "[]"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._problems.append(f"{self.key(name)} must be a list of strings, not {raw!r}.")
            return ()
        return tuple(value)


def load_settings() -> Settings:
    """Read the stack's configuration and validate it as a whole."""
    problems: list[str] = []
    read = _Reader(pulumi.Config(), problems)

    existing = read_existing_cluster(read, problems, project_defaults())
    project = pulumi.Config("gcp").get("project") or ""
    if not project and existing is None:
        problems.append(
            "gcp:project is not set; run `pulumi config set gcp:project <your-project-id>` "
            "(e.g. `$(gcloud config get-value project)`)."
        )

    cluster = ClusterSettings(
        project=project,
        zone=read.text("zone"),
        name=read.text("clusterName"),
        release_channel=read.text("releaseChannel"),
        deletion_protection=read.flag("deletionProtection"),
        node_pool_name=read.text("nodePoolName"),
        machine_type=read.text("machineType"),
        min_nodes=read.integer("minNodes", 0, 1000),
        max_nodes=read.integer("maxNodes", 1, 1000),
        initial_nodes=read.integer("initialNodes", 0, 1000),
        system_machine_type=read.text("systemMachineType"),
        accelerator=None if read.text("accelerator") == NONE else read.text("accelerator"),
        spot_nodes=read.flag("spotNodes"),
        hpa_profile=read.text("hpaProfile"),
        load_generator_nodes=read.integer("loadGeneratorNodes", 0, 100),
        private_nodes=read.flag("privateNodes"),
        control_plane_authorized_networks=read.text_list("controlPlaneAuthorizedNetworks"),
    )
    model = ModelSettings(
        source=_model_source(read, problems),
        bucket_name=read.text("bucketName") or (f"{project}-bucket" if project else ""),
        folder=read.text("modelFolder").strip("/"),
        name=read.text("modelName"),
        copy_image=read.text("modelCopyImage"),
    )
    memory_request = read.text("memoryRequest")
    serving = ServingSettings(
        instance=pulumi.get_stack(),
        namespace=read.text("namespace"),
        image=read.text("image"),
        cpu_request=read.text("cpuRequest"),
        memory_request=memory_request,
        memory_limit=read.text("memoryLimit") or memory_request,
        min_replicas=read.integer("minReplicas", 1, 1000),
        max_replicas=read.integer("maxReplicas", 1, 1000),
        target_cpu_utilization=read.integer("targetCpuUtilization", 1, 100),
        allowed_source_ranges=read.text_list("allowedSourceRanges"),
        spare_replicas=read.integer("spareReplicas", 0, 100),
        tuning=ServerTuning(
            intra_op_threads=read.integer("tensorflowIntraOpThreads", 0, 512),
            inter_op_threads=read.integer("tensorflowInterOpThreads", 0, 512),
            rest_api_threads=read.integer("restApiThreads", 0, 4096),
            batching=read.flag("serverBatching"),
        ),
    )

    _check_cluster(cluster, read, problems)
    _check_model(model, read, problems)
    _check_serving(serving, cluster if existing is None else None, read, problems)
    _check_accelerator(cluster, serving, read, problems)
    if existing is not None and isinstance(model.source, GcsModelSource):
        existing = replace(existing, model_uri=model.source.uri)
    elif existing is not None:
        problems.append(
            f"{read.key('modelSource')} is a local folder, which needs the stack's own bucket; with "
            f"{read.key('kubeconfig')} set, give a gs:// SavedModel folder the pods can read, e.g. "
            "gs://spls/gsp777/resnet_101."
        )
    if problems:
        raise SettingsError("Invalid stack configuration:\n" + "\n".join(f"  - {problem}" for problem in problems))
    return Settings(cluster=cluster, model=model, serving=serving, existing_cluster=existing)


def project_defaults() -> dict[str, object]:
    """The defaults Pulumi.yaml declares, as the CLI hands them to the program (strings)."""
    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    return {key: spec.get("default") for key, spec in declared.items()}


def _model_source(read: _Reader, problems: list[str]) -> ModelSource:
    raw = read.text("modelSource")
    if raw.startswith("gs://"):
        match = _GCS_URI.match(raw)
        if match and _is_folder_path(match["path"]):
            return GcsModelSource(bucket=match["bucket"], path=match["path"])
        problems.append(
            f"{read.key('modelSource')} {raw!r} is not a gs://bucket/path URI; "
            "give the SavedModel folder, e.g. gs://spls/gsp777/resnet_101."
        )
        return GcsModelSource(bucket="", path="")
    directory = Path(raw).expanduser()
    if not raw or not directory.is_dir():
        problems.append(
            f"{read.key('modelSource')} {raw!r} is neither a gs://bucket/path URI nor an existing "
            "directory; give a Cloud Storage SavedModel folder or a local one."
        )
    elif not any(
        _VERSION_FOLDER.match(child.name) and (child / "saved_model.pb").is_file() for child in directory.iterdir()
    ):
        problems.append(
            f"{read.key('modelSource')} {raw!r} holds no version folder with a SavedModel; "
            "TF Serving needs <model>/<version>/saved_model.pb, e.g. resnet_101/1/saved_model.pb."
        )
    return LocalModelSource(directory=directory.resolve())


def _check_cluster(cluster: ClusterSettings, read: _Reader, problems: list[str]) -> None:
    if not _ZONE.match(cluster.zone):
        problems.append(f"{read.key('zone')} {cluster.zone!r} is not a zone; use one like us-central1-f.")
    if not _CLUSTER_NAME.match(cluster.name):
        problems.append(
            f"{read.key('clusterName')} {cluster.name!r} must start with a letter, use lowercase "
            "letters, digits and hyphens, and be at most 22 characters (service accounts are named after it)."
        )
    if not _NODE_POOL_NAME.match(cluster.node_pool_name):
        problems.append(
            f"{read.key('nodePoolName')} {cluster.node_pool_name!r} must start with a letter and be lowercase "
            "letters, digits and hyphens, at most 40 characters (GKE's rule for node pool names)."
        )
    if cluster.release_channel not in RELEASE_CHANNELS:
        problems.append(
            f"{read.key('releaseChannel')} {cluster.release_channel!r} is not a release channel; "
            f"use one of {', '.join(RELEASE_CHANNELS)}."
        )
    if cluster.hpa_profile not in HPA_PROFILES:
        problems.append(
            f"{read.key('hpaProfile')} {cluster.hpa_profile!r} is not an HPA profile; use {' or '.join(HPA_PROFILES)}."
        )
    if cluster.min_nodes > cluster.max_nodes:
        problems.append(
            f"{read.key('minNodes')} ({cluster.min_nodes}) is above {read.key('maxNodes')} "
            f"({cluster.max_nodes}); lower minNodes or raise maxNodes."
        )
    if not cluster.min_nodes <= cluster.initial_nodes <= cluster.max_nodes:
        problems.append(
            f"{read.key('initialNodes')} ({cluster.initial_nodes}) must lie between minNodes "
            f"({cluster.min_nodes}) and maxNodes ({cluster.max_nodes})."
        )
    _check_cidrs(cluster.control_plane_authorized_networks, read.key("controlPlaneAuthorizedNetworks"), problems)
    machine_types = (("machineType", cluster.machine_type), ("systemMachineType", cluster.system_machine_type))
    for key, machine_type in machine_types:
        problem = machine_type_problem(machine_type)
        if problem:
            problems.append(
                f"{read.key(key)} {machine_type!r} is not a Compute Engine machine type: {problem}; "
                "pick one from `gcloud compute machine-types list --zones <zone>`."
            )


def _check_accelerator(cluster: ClusterSettings, serving: ServingSettings, read: _Reader, problems: list[str]) -> None:
    if cluster.accelerator is None:
        return
    if cluster.accelerator not in ACCELERATORS:
        problems.append(f"{read.key('accelerator')} {cluster.accelerator!r} is not one of {', '.join(ACCELERATORS)}.")
        return
    for problem in gpu_problems(cluster.accelerator, cluster.zone, cluster.machine_type, serving.image):
        problems.append(f"{read.key('accelerator')} {cluster.accelerator}: {problem}.")


def _check_cidrs(cidrs: tuple[str, ...], key: str, problems: list[str]) -> None:
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            problems.append(f"{key} entry {cidr!r} is not a CIDR range like 203.0.113.0/24.")


def _is_folder_path(path: str) -> bool:
    """Non-empty segments of plain characters, none of them `.` or `..`."""
    segments = path.split("/")
    return all(_PATH_SEGMENT.match(segment) and segment not in (".", "..") for segment in segments)


def bucket_name_problem(name: str) -> str | None:
    """Why Cloud Storage would refuse this bucket name, or None."""
    if not _BUCKET_NAME.match(name):
        return "use 3-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"
    if "." in name:
        return "names with dots need a verified domain; use '-' instead"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "Cloud Storage refuses names that start with 'goog' or contain 'google'"
    if _IP_ADDRESS_FORM.match(name):
        return "Cloud Storage refuses names in IP-address form"
    return None


def _check_model(model: ModelSettings, read: _Reader, problems: list[str]) -> None:
    problem = bucket_name_problem(model.bucket_name) if model.bucket_name else None
    if problem:
        problems.append(f"{read.key('bucketName')} {model.bucket_name!r} is not a valid bucket name: {problem}.")
    if not _is_folder_path(model.folder):
        problems.append(
            f"{read.key('modelFolder')} {model.folder!r} must be a folder path such as resnet_101, "
            "without empty, '.' or '..' parts."
        )
    if not _MODEL_NAME.match(model.name) or model.name in (".", ".."):
        problems.append(
            f"{read.key('modelName')} {model.name!r} must be 1-63 letters, digits, '_', '-' or '.', "
            "not starting with '-' or '.'."
        )
    _check_image(model.copy_image, read.key("modelCopyImage"), problems)


def _check_image(image: str, key: str, problems: list[str]) -> None:
    match = _IMAGE.match(image)
    if not match:
        problems.append(
            f"{key} {image!r} is not an image reference; write it like tensorflow/serving:2.8.0 "
            "(lowercase repository, no spaces)."
        )
    elif not match["tag"] and not match["digest"]:
        problems.append(f"{key} {image!r} has no tag or digest; pin one, e.g. tensorflow/serving:2.8.0.")


def _quantity(raw: str, key: str, example: str, problems: list[str]) -> Decimal | None:
    try:
        if raw != raw.strip() or " " in raw:
            raise ValueError("spaces")
        value = parse_quantity(raw)
    except ValueError:
        problems.append(f"{key} {raw!r} is not a Kubernetes quantity; write it like {example}, without spaces.")
        return None
    if value <= 0:
        problems.append(f"{key} must be above zero, not {raw!r}.")
        return None
    return value


def _memory(raw: str, key: str, example: str, problems: list[str]) -> Decimal | None:
    """A memory quantity with a unit: a bare number means bytes, which is never what a pod needs."""
    value = _quantity(raw, key, example, problems)
    if value is not None and (raw[-1:].isdigit() or value < _MEMORY_FLOOR):
        problems.append(
            f"{key} {raw!r} is {value} bytes, too little for TF Serving; give a unit, like {example} "
            "(YAML turns an unquoted 4 into 4 bytes)."
        )
        return None
    return value


def _check_serving(
    serving: ServingSettings, cluster: ClusterSettings | None, read: _Reader, problems: list[str]
) -> None:
    """`cluster` is None for a cluster the user already has: its nodes are not known, so not checked against."""
    if not _DNS_LABEL.match(serving.namespace):
        problems.append(f"{read.key('namespace')} {serving.namespace!r} is not a valid namespace name.")
    elif serving.namespace.startswith(_RESERVED_NAMESPACE_PREFIX):
        problems.append(
            f"{read.key('namespace')} {serving.namespace!r} is one of Kubernetes' own namespaces, which the "
            "stack must not create or relabel; choose another, e.g. tfserving."
        )
    _check_image(serving.image, read.key("image"), problems)
    if serving.min_replicas > serving.max_replicas:
        problems.append(
            f"{read.key('minReplicas')} ({serving.min_replicas}) is above {read.key('maxReplicas')} "
            f"({serving.max_replicas}); lower minReplicas or raise maxReplicas."
        )
    _check_cidrs(serving.allowed_source_ranges, read.key("allowedSourceRanges"), problems)
    # One serving-sized pod per serving node: warm spares and the minimum replicas each need a node of their own.
    needed = serving.spare_replicas + serving.min_replicas
    if cluster is not None and serving.spare_replicas and needed > cluster.max_nodes:
        problems.append(
            f"{read.key('spareReplicas')} ({serving.spare_replicas}) plus {read.key('minReplicas')} "
            f"({serving.min_replicas}) need {serving.spare_replicas + serving.min_replicas} serving nodes, above "
            f"{read.key('maxNodes')} ({cluster.max_nodes}); lower spareReplicas or raise maxNodes."
        )

    cpu = _quantity(serving.cpu_request, read.key("cpuRequest"), "3 or 2500m", problems)
    memory = _memory(serving.memory_request, read.key("memoryRequest"), "4Gi or 4096Mi", problems)
    memory_limit = _memory(serving.memory_limit, read.key("memoryLimit"), "4Gi or 6Gi", problems)
    if memory is not None and memory_limit is not None and memory_limit < memory:
        problems.append(
            f"{read.key('memoryLimit')} ({serving.memory_limit}) is below {read.key('memoryRequest')} "
            f"({serving.memory_request}); raise memoryLimit or leave it empty to equal the request."
        )
    capacity = node_capacity(cluster.machine_type) if cluster is not None else None
    if capacity is None:
        return
    daemonsets = f"{DAEMONSET_CPU} CPU / {DAEMONSET_MEMORY_BYTES // MIB}Mi"
    overhead = f"after GKE's reservation and the {daemonsets} its DaemonSets take"
    if cpu is not None and cpu > capacity.schedulable_cpu:
        problems.append(
            f"{read.key('cpuRequest')} ({serving.cpu_request}) cannot fit a {capacity.machine_type} node, "
            f"which leaves {capacity.schedulable_cpu.normalize()} CPU to a pod {overhead}; lower cpuRequest "
            "or choose a larger machineType."
        )
    if memory is not None and memory > capacity.schedulable_memory_bytes:
        schedulable_gib = (capacity.schedulable_memory_bytes / GIB).quantize(Decimal("0.01"))
        problems.append(
            f"{read.key('memoryRequest')} ({serving.memory_request}) cannot fit a {capacity.machine_type} "
            f"node, which leaves {schedulable_gib}Gi to a pod {overhead}; lower memoryRequest or choose "
            "a larger machineType."
        )
