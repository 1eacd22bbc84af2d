"""The invariants of the serving system, as Pulumi policies.

Validators receive the engine's view of resources: properties in camelCase and
numbers possibly as floats. Each message says how to fix what it reports.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes.utils.quantity import parse_quantity
from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.labels import COMPONENT_LABEL, PLACEHOLDER_COMPONENT
from infra.node_fit import pods_per_node
from infra.node_pools import GPU_RESOURCE, NODE_POOL_LABEL

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SERVICE = "kubernetes:core/v1:Service"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_GRANTS = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return (((props.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def _resources(args: StackValidationArgs, resource_type: str) -> Iterator[Any]:
    return (resource for resource in args.resources if resource.resource_type == resource_type)


def _namespaced_name(props: Mapping[str, Any]) -> tuple[str, str]:
    metadata = props.get("metadata") or {}
    return metadata.get("namespace") or "default", metadata.get("name") or ""


def deployment_requests_and_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != DEPLOYMENT:
        return
    labels = (args.props.get("metadata") or {}).get("labels") or {}
    if labels.get(COMPONENT_LABEL) == PLACEHOLDER_COMPONENT:
        return
    for container in _containers(args.props):
        name = container.get("name", "?")
        requests = (container.get("resources") or {}).get("requests") or {}
        missing = [resource for resource in ("cpu", "memory") if resource not in requests]
        if missing:
            report_violation(
                f"Container {name} has no {' or '.join(missing)} request: the HPA scales on the CPU request and the "
                "scheduler places pods by requests. Set cpuRequest and memoryRequest.",
                None,
            )
        if "readinessProbe" not in container:
            report_violation(
                f"Container {name} has no readinessProbe: the load balancer would send requests before the model "
                "is loaded. Add one that asks for the model's metadata.",
                None,
            )
        if "livenessProbe" not in container and "startupProbe" not in container:
            report_violation(
                f"Container {name} has neither a liveness nor a startup probe: a hung server would never be "
                "restarted. Add a startup probe that allows for the model's load time, and a liveness probe.",
                None,
            )


# Values of gpuDriverVersion that leave the node without a driver GKE installs.
NO_DRIVER = ("", "GPU_DRIVER_VERSION_UNSPECIFIED", "INSTALLATION_DISABLED")


def gpus_have_drivers_and_tolerations(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == NODE_POOL:
        for accelerator in (args.props.get("nodeConfig") or {}).get("guestAccelerators") or []:
            version = (accelerator.get("gpuDriverInstallationConfig") or {}).get("gpuDriverVersion") or ""
            if version in NO_DRIVER:
                report_violation(
                    f"GPU node pool with {accelerator.get('type')} lets GKE install no driver: its pods would not "
                    "see the GPU. Set gpu_driver_installation_config to DEFAULT or LATEST.",
                    None,
                )
    elif args.resource_type == DEPLOYMENT:
        pod = ((args.props.get("spec") or {}).get("template") or {}).get("spec") or {}
        wants_gpu = any(
            GPU_RESOURCE in ((c.get("resources") or {}).get("limits") or {}) for c in _containers(args.props)
        )
        tolerated = any(
            t.get("key") == GPU_RESOURCE and t.get("effect") in (None, "", "NoSchedule")
            for t in pod.get("tolerations") or []
        )
        if wants_gpu and not tolerated:
            report_violation(
                f"Deployment asks for {GPU_RESOURCE} but does not tolerate GKE's {GPU_RESOURCE} taint on GPU nodes: "
                "its pods would never schedule there. Add the toleration.",
                None,
            )


def images_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != DEPLOYMENT:
        return
    for container in _containers(args.props):
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in image and tag in ("", "latest"):
            report_violation(
                f"Image {image!r} of container {container.get('name', '?')} is not pinned: every new replica "
                "could run another version. Pin a version tag or a digest, e.g. tensorflow/serving:2.8.0.",
                None,
            )


def bucket_private_and_uniform(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == BUCKET:
        if args.props.get("uniformBucketLevelAccess") is not True:
            report_violation(
                "The bucket does not use uniform bucket-level access, so object ACLs could open the model to "
                "others. Set uniform_bucket_level_access=True.",
                None,
            )
        if args.props.get("publicAccessPrevention") != "enforced":
            report_violation(
                "The bucket does not enforce public access prevention. Set public_access_prevention='enforced'.",
                None,
            )
    elif args.resource_type in BUCKET_GRANTS:
        members = [args.props.get("member"), *(args.props.get("members") or [])]
        public = [member for member in members if member in PUBLIC_MEMBERS]
        if public:
            report_violation(
                f"The bucket is granted to {', '.join(public)}: anyone could read it. Grant named accounts only.",
                None,
            )


def _is_world(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def load_balancer_ranges_not_world(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = args.props.get("spec") or {}
    if args.resource_type != SERVICE or spec.get("type") != "LoadBalancer":
        return
    world = [cidr for cidr in spec.get("loadBalancerSourceRanges") or [] if _is_world(cidr)]
    if world:
        report_violation(
            f"The load balancer's source ranges include {', '.join(world)}, which opens it to the world and "
            "undoes the other ranges. Remove it from allowedSourceRanges.",
            None,
        )


def load_balancer_has_ranges(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = args.props.get("spec") or {}
    if (
        args.resource_type == SERVICE
        and spec.get("type") == "LoadBalancer"
        and not spec.get("loadBalancerSourceRanges")
    ):
        report_violation(
            "The load balancer accepts requests from anywhere, as in the lab. To limit who can reach the model, "
            "set allowedSourceRanges, e.g. pulumi config set --path 'allowedSourceRanges[0]' 203.0.113.0/24.",
            None,
        )


def cluster_deletion_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    actual = args.props.get("deletionProtection")
    if actual is None:
        report_violation(
            "The cluster leaves deletion protection to the provider, whose default (on) makes `pulumi destroy` "
            "fail. Set deletion_protection explicitly from the deletionProtection setting.",
            None,
        )
        return
    expected = args.get_config().get("deletionProtection")
    if expected is not None and actual is not expected:
        report_violation(
            f"The cluster's deletion protection is {'on' if actual else 'off'}, but this stack's policy expects it "
            f"{'on' if expected else 'off'}. Run `pulumi config set deletionProtection {str(expected).lower()}`.",
            None,
        )


def hpa_owns_replicas(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    deployments = {_namespaced_name(d.props): d for d in _resources(args, DEPLOYMENT)}
    for hpa in _resources(args, HPA):
        namespace, _ = _namespaced_name(hpa.props)
        target = (hpa.props.get("spec") or {}).get("scaleTargetRef") or {}
        deployment = deployments.get((namespace, target.get("name", "")))
        if target.get("kind") == "Deployment" and deployment and "replicas" in (deployment.props.get("spec") or {}):
            report_violation(
                f"Deployment {target.get('name')} sets spec.replicas, but HPA {hpa.name} owns the replica count; "
                "each `pulumi up` would reset what the HPA chose. Remove replicas from the Deployment.",
                deployment.urn,
            )


def _pods_per_node(machine_type: str, requests: Mapping[str, str]) -> int | None:
    if "cpu" not in requests or "memory" not in requests:
        return None
    return pods_per_node(machine_type, parse_quantity(requests["cpu"]), parse_quantity(requests["memory"]))


def node_pool_holds_hpa_minimum(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    pools = list(_resources(args, NODE_POOL))
    deployments = {_namespaced_name(d.props): d for d in _resources(args, DEPLOYMENT)}
    for hpa in _resources(args, HPA):
        namespace, _ = _namespaced_name(hpa.props)
        spec = hpa.props.get("spec") or {}
        deployment = deployments.get((namespace, (spec.get("scaleTargetRef") or {}).get("name", "")))
        if deployment is None:
            continue
        containers = _containers(deployment.props)
        requests = ((containers[0].get("resources") or {}).get("requests") or {}) if containers else {}
        minimum = int(spec.get("minReplicas") or 1)
        # The pool the serving pods select; a pod that selects none may land on any, so it is not checked.
        selector = (((deployment.props.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "nodeSelector"
        ) or {}
        selected = selector.get(NODE_POOL_LABEL)
        for pool in (pool for pool in pools if selected is not None and pool.props.get("name") == selected):
            autoscaling = pool.props.get("autoscaling") or {}
            max_nodes = autoscaling.get("maxNodeCount") or autoscaling.get("totalMaxNodeCount")
            per_node = _pods_per_node((pool.props.get("nodeConfig") or {}).get("machineType", ""), requests)
            if max_nodes is None or per_node is None:
                continue
            if int(max_nodes) * per_node < minimum:
                report_violation(
                    f"Node pool {pool.name} holds at most {int(max_nodes) * per_node} serving pod(s) "
                    f"({int(max_nodes)} node(s), {per_node} per node), below the HPA's minimum of {minimum}: "
                    "some replicas would never run. Raise maxNodes or lower minReplicas.",
                    pool.urn,
                )
