"""Every setting of the stack, read and validated in one place.

Defaults live in Pulumi.yaml's config schema (the CLI applies them); this
module reads the values, checks them together and hands typed values to the
components. Nothing else reads `pulumi.Config`. All problems are gathered and
raised at once, before any resource is registered.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from pathlib import Path

import pulumi
import yaml
from pulumi.runtime import config as runtime_config

from infra import machine_types, node_fit, ownership
from infra.accelerators import NONE
from infra.existing_settings import ExistingClusterSettings, read_existing_cluster
from infra.names import LAB_STACK, PROJECT_ID, default_bucket_name
from infra.namespace import BUILT_IN_NAMESPACES
from infra.ownership import ClusterTarget
from infra.settings_bounds import RANGES
from infra.settings_checks import (
    check_accelerator,
    check_cluster,
    check_model,
    check_serving,
)
from infra.settings_values import (
    ClusterSettings,
    GcsModelSource,
    LocalModelSource,
    ModelSettings,
    ModelSource,
    ServerTuning,
    ServingSettings,
    Settings,
)
from infra.validators import (
    is_folder_path,
)
from infra.warm_capacity import placeholder_priority_class, serving_priority_class
from infra.zones import zone_problem

_GCS_URI = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(?P<path>\S+?)/?$")
_VERSION_FOLDER = re.compile(r"^\d+$")
PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"


class SettingsError(ValueError):
    """One or more settings are invalid; the message names each key and its fix."""


class _Reader:
    """Reads keys of one namespace, collecting every problem instead of stopping at the first."""

    def __init__(self, config: pulumi.Config, problems: list[str]) -> None:
        self._config = config
        self._problems = problems

    def key(self, name: str) -> str:
        return self._config.full_key(name)

    def text(self, name: str) -> str:
        return self._config.get(name) or ""

    def integer(self, name: str) -> int:
        """A whole number within the setting's range (settings_bounds.RANGES)."""
        raw, bounds = self.text(name), RANGES[name]
        try:
            value = int(raw)
        except ValueError:
            self._problems.append(f"{self.key(name)} must be a whole number, not {raw!r}.")
            return bounds.minimum
        if not bounds.minimum <= value <= bounds.maximum:
            self._problems.append(f"{self.key(name)} is {value}; set it between {bounds.minimum} and {bounds.maximum}.")
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

    defaults = project_defaults()
    _check_keys_are_declared(set(defaults), problems)
    existing = read_existing_cluster(read, problems, defaults)
    project = pulumi.Config("gcp").get("project") or ""
    if not project and existing is None:
        problems.append(
            "gcp:project is not set; run `pulumi config set gcp:project <your-project-id>` "
            "(e.g. `$(gcloud config get-value project)`)."
        )
    elif project and not PROJECT_ID.fullmatch(project):
        problems.append(
            f"gcp:project {project!r} is not a project ID (6-30 lowercase letters, digits or hyphens, starting with "
            "a letter, or domain:id for a domain-scoped project): give the ID, not the name or number, as "
            "`gcloud projects list` shows it."
        )
        project = ""

    cluster = ClusterSettings(
        project=project,
        zone=read.text("zone"),
        name=read.text("clusterName"),
        release_channel=read.text("releaseChannel"),
        deletion_protection=read.flag("deletionProtection"),
        node_pool_name=read.text("nodePoolName"),
        machine_type=read.text("machineType"),
        min_nodes=read.integer("minNodes"),
        max_nodes=read.integer("maxNodes"),
        initial_nodes=read.integer("initialNodes"),
        disk_size_gb=read.integer("diskSizeGb"),
        system_machine_type=read.text("systemMachineType"),
        accelerator=None if read.text("accelerator") == NONE else read.text("accelerator"),
        spot_nodes=read.flag("spotNodes"),
        hpa_profile=read.text("hpaProfile"),
        load_generator_nodes=read.integer("loadGeneratorNodes"),
        private_nodes=read.flag("privateNodes"),
        control_plane_authorized_networks=read.text_list("controlPlaneAuthorizedNetworks"),
    )
    model = ModelSettings(
        source=_model_source(read, problems),
        bucket_name=read.text("bucketName") or default_bucket_name(project, pulumi.get_stack()),
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
        min_replicas=read.integer("minReplicas"),
        max_replicas=read.integer("maxReplicas"),
        target_cpu_utilization=read.integer("targetCpuUtilization"),
        allowed_source_ranges=read.text_list("allowedSourceRanges"),
        spare_replicas=read.integer("spareReplicas"),
        tuning=ServerTuning(
            intra_op_threads=read.integer("tensorflowIntraOpThreads"),
            inter_op_threads=read.integer("tensorflowInterOpThreads"),
            rest_api_threads=read.integer("restApiThreads"),
            batching=read.flag("serverBatching"),
        ),
    )

    node_fit.remember([], [])  # nothing Compute Engine said in an earlier run of this process counts
    if existing is None and project and not problems:
        _ask_compute_engine(cluster, read, problems)
    check_cluster(cluster, read.key, problems)
    check_model(model, read.key, problems)
    own_pools = existing is None or existing.gke_node_pools
    check_serving(serving, cluster if own_pools else None, read.key, problems)
    if serving.spare_replicas and existing is not None and not existing.serving_preemption:
        problems.append(
            f"{read.key('spareReplicas')} needs serving pods that preempt its placeholders, which they do only on the "
            f"stack's pools ({read.key('gkeNodePools')} true) or with {read.key('servingPreemption')} true (they may "
            "then evict other workloads' lower-priority pods): set one, or `pulumi config rm spareReplicas`."
        )
    check_accelerator(cluster, serving, read.key, problems)
    if existing is not None and isinstance(model.source, GcsModelSource):
        existing = replace(existing, model_uri=model.source.uri)
    elif existing is not None:
        problems.append(
            f"{read.key('modelSource')} is a local folder, which needs the stack's own bucket; with "
            f"{read.key('kubeconfig')} set, give a gs:// SavedModel folder the pods can read, e.g. "
            "gs://spls/gsp777/resnet_101."
        )
    # Asked of Compute Engine last, once the settings are well formed: a zone in a known shape may still not exist.
    if not problems and existing is None and (problem := zone_problem(project, cluster.zone)):
        problems.append(f"{read.key('zone')} {problem}")
    # Asked of the cluster last, too: what the stack would create there must not be someone else's already.
    if not problems and existing is not None:
        problems += _adoption_problems(existing, serving, read)
    if problems:
        raise SettingsError("Invalid stack configuration:\n" + "\n".join(f"  - {problem}" for problem in problems))
    if existing is None and serving.instance != LAB_STACK and serving.namespace == defaults["namespace"]:
        pulumi.log.warn(
            f"{read.key('namespace')} is {serving.namespace}, as stack {LAB_STACK}'s: in one project, stacks of one "
            "namespace share a Workload Identity principal and each other's buckets; give this stack its own "
            "(`pulumi config set namespace <name>`; docs/security.md)."
        )
    return Settings(cluster=cluster, model=model, serving=serving, existing_cluster=existing)


def _ask_compute_engine(cluster: ClusterSettings, read: _Reader, problems: list[str]) -> None:
    """The stack's machine types as Compute Engine lists them in its zone: a type it does not offer there is a
    problem, one it does describes the node from then on (node_fit.py's table only when it cannot be asked)."""
    keys = {cluster.machine_type: "machineType", cluster.system_machine_type: "systemMachineType"}
    answer = machine_types.offered(cluster.project, cluster.zone, list(keys)) or {}
    node_fit.remember(list(answer), [machine.capacity for machine in answer.values() if machine is not None])
    for name, machine in answer.items():
        if machine is None:
            why = node_fit.machine_type_problem(name)
            problems.append(
                f"{read.key(keys[name])} {name!r} is not offered in {cluster.zone} (Compute Engine's list"
                f"{f'; {why}' if why else ''}); pick one from "
                f"`gcloud compute machine-types list --zones {cluster.zone}`."
            )
        elif machine.architecture == "ARM64":
            problems.append(
                f"{read.key(keys[name])} {name!r} is an Arm machine, and TF Serving's images (and GKE's system pods "
                "here) are amd64; pick an x86 type."
            )


def _adoption_problems(existing: ExistingClusterSettings, serving: ServingSettings, read: _Reader) -> list[str]:
    """One line per object the stack would create in the cluster that exists and is another's (infra/ownership.py)."""
    namespace = "" if serving.namespace in BUILT_IN_NAMESPACES else serving.namespace
    classes = [serving_priority_class(serving.namespace)]
    if serving.spare_replicas:
        classes.append(placeholder_priority_class(serving.namespace))
    try:
        found = ownership.adoption_problems(
            ClusterTarget(existing.kubeconfig_path, existing.context), namespace, classes, serving.instance
        )
    except ownership.ClusterUnreadableError as error:
        return [
            f"{read.key('kubeconfig')}: the cluster could not be asked whether what the stack would create exists "
            f"already ({error}); check that it answers through this kubeconfig."
        ]
    return [
        f"{problem}: the stack would take it over, and its destroy delete it. Choose another "
        f"{read.key('namespace')} (cluster-wide objects are named after it), or delete it if nothing of it is needed."
        for problem in found
    ]


def _check_keys_are_declared(declared: set[str], problems: list[str]) -> None:
    """A key of this project that Pulumi.yaml does not declare is a typo the CLI would silently keep."""
    given = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    namespace = f"{pulumi.get_project()}:"
    for key in sorted(k for k in given if k.startswith(namespace)):
        name = key[len(namespace) :]
        if name in declared:
            continue
        close = difflib.get_close_matches(name, declared, n=1) or [d for d in declared if d.lower() == name.lower()]
        hint = f"did you mean {close[0]}? " if close else ""
        problems.append(f"{key} is not a setting of this project; {hint}remove it with `pulumi config rm {key}`.")


def project_defaults() -> dict[str, object]:
    """The defaults Pulumi.yaml declares, as YAML typed them (the CLI hands the program their text); None for a
    setting without one. loadtest/target.py reads the same file for itself; a test holds the two equal."""
    declared = yaml.safe_load(PROJECT_FILE.read_text())["config"]
    return {key: spec.get("default") for key, spec in declared.items()}


def _model_source(read: _Reader, problems: list[str]) -> ModelSource:
    raw = read.text("modelSource")
    if raw.startswith("gs://"):
        match = _GCS_URI.fullmatch(raw)
        if match and is_folder_path(match["path"]):
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
        _VERSION_FOLDER.fullmatch(child.name) and (child / "saved_model.pb").is_file() for child in directory.iterdir()
    ):
        problems.append(
            f"{read.key('modelSource')} {raw!r} holds no version folder with a SavedModel; "
            "TF Serving needs <model>/<version>/saved_model.pb, e.g. resnet_101/1/saved_model.pb."
        )
    return LocalModelSource(directory=directory.resolve())
