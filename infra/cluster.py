"""The GKE cluster, its system and serving node pools, the workload namespace and the Kubernetes provider."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra import apis
from infra.apis import ProjectApis
from infra.kubeconfig import gke_kubeconfig
from infra.namespace import workload_namespace
from infra.network import PODS_RANGE_NAME, SERVICES_RANGE_NAME, StackNetwork
from infra.node_pools import (
    LOAD_POOL_MACHINE_TYPE,
    LOAD_POOL_NAME,
    LOAD_TAINT_KEY,
    LOAD_TAINT_VALUE,
    SERVING_TAINT_KEY,
    SERVING_TAINT_VALUE,
    SMALL_POOL_DISK_GB,
    SYSTEM_POOL_MAX_NODES,
    SYSTEM_POOL_NAME,
)
from infra.settings_values import ClusterSettings

# What a node's own account needs in the project: Google's minimal node role (logs, metrics). The images it pulls
# are public (Docker Hub, gcr.io's cloudsdktool, GKE's own); a GPU stack's nodes read its Docker Hub mirror through
# a grant on that repository alone (image_mirror.py), never project-wide.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
# GPU nodes stream their multi-GB image; with a node account of its own (not Compute Engine's default), image
# streaming needs to consume the Container File System API in the project, or GKE quietly pulls the image whole.
STREAMING_NODE_ROLE = "roles/serviceusage.serviceUsageConsumer"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings
    apis: ProjectApis
    network: StackNetwork
    namespace: str
    instance: str


class Cluster(pulumi.ComponentResource):
    """A zonal GKE cluster with Workload Identity, a small system pool and an autoscaling serving pool."""

    name: pulumi.Output[str]
    workload_pool: pulumi.Output[str]
    node_pool_name: pulumi.Output[str]
    node_account_member: pulumi.Output[str]
    load_generator_pool: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    namespace: str
    namespace_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:Cluster", name, None, opts)
        settings = args.settings
        google_apis = args.apis.needs(apis.IAM, apis.RESOURCE_MANAGER)

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=f"{settings.name}-nodes",
            display_name=f"GKE nodes of {settings.name}",
            project=settings.project,
            opts=pulumi.ResourceOptions(parent=self, depends_on=google_apis),
        )
        node_grants = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.rsplit('/', 1)[-1]}",
                project=settings.project,
                role=role,
                member=node_account.member,
                opts=pulumi.ResourceOptions(parent=self, depends_on=google_apis),
            )
            for role in (*NODE_ROLES, *((STREAMING_NODE_ROLE,) if settings.accelerator else ()))
        ]

        def node_config(machine_type: str, disk_gb: int = SMALL_POOL_DISK_GB, **serving_only):
            return gcp.container.NodePoolNodeConfigArgs(
                machine_type=machine_type,
                disk_size_gb=disk_gb,
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA",
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                metadata={"disable-legacy-endpoints": "true"},
                **serving_only,
            )

        internet_access = args.network.ready
        cluster = gcp.container.Cluster(
            name,
            name=settings.name,
            project=settings.project,
            location=settings.zone,
            deletion_protection=settings.deletion_protection,
            # The pools below replace the default one, so that they can change without replacing the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            # The short-lived default pool runs as the node account too: organisations that disable the
            # Compute Engine default account could not create the cluster otherwise.
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            networking_mode="VPC_NATIVE",
            network=args.network.network,
            subnetwork=args.network.subnetwork,
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE_NAME, services_secondary_range_name=SERVICES_RANGE_NAME
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=settings.release_channel),
            # Dataplane V2 enforces the serving NetworkPolicy.
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=False
            )
            if settings.private_nodes
            else None,
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=cidr)
                    for cidr in settings.control_plane_authorized_networks
                ]
            )
            if settings.control_plane_authorized_networks
            else None,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{settings.project}.svc.id.goog",
            ),
            # The PERFORMANCE profile collects the metrics the HPA scales on faster (GKE API, HPAProfile).
            pod_autoscaling=gcp.container.ClusterPodAutoscalingArgs(hpa_profile=settings.hpa_profile),
            # Managed Prometheus scrapes TF Serving's own request counts and latencies (the PodMonitoring).
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.apis.needs(apis.CONTAINER, apis.COMPUTE), *node_grants, *internet_access],
                # node_config describes only the default pool, which is deleted at creation; once it is gone
                # the provider sees a difference and would replace the cluster on every later `up`
                # (terraform-provider-google #12070, #17511).
                ignore_changes=["nodeConfig"],
                # GKE's deletion protection alone fails `destroy` only at the cluster, after the Kubernetes
                # objects and the pools are gone; Pulumi's protect fails it in its preview, before any delete
                # (seen with the Pulumi CLI 3.274.1 on the local control plane, docs/operations.md).
                protect=settings.deletion_protection,
            ),
        )

        pool_options = pulumi.ResourceOptions(
            parent=self,
            depends_on=[*node_grants, *internet_access],
            # initial_node_count forces a new pool when it changes, and the autoscaler's resizes change it:
            # it counts at creation only.
            ignore_changes=["initialNodeCount"],
            # A new machine type or boot disk updates a pool in place, as a surge upgrade (the provider since
            # terraform-provider-google 5.10.0, magic-modules#9575; pulumi-gcp 10 bridges 7.x). What still
            # replaces it (GPUs, spot, service account, scopes) replaces it under the same name, which GKE
            # refuses while the old pool exists ("Error 409: Already exists", terraform-google-kubernetes-engine
            # #367; pulumi#1620): the old one must go first, or the replacement fails and every later `up` too.
            delete_before_replace=True,
        )

        def autoscaling_pool(
            resource_name: str, pool_name: str, initial: int, least: int, most: int, config
        ) -> gcp.container.NodePool:
            return gcp.container.NodePool(
                resource_name,
                name=pool_name,
                project=settings.project,
                cluster=cluster.name,
                location=settings.zone,
                # initial_node_count, not node_count: node_count would undo the autoscaler on every update.
                initial_node_count=initial,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=least, max_node_count=most),
                management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                node_config=config,
                opts=pool_options,
            )

        def taint(key: str, value: str) -> list[gcp.container.NodePoolNodeConfigTaintArgs]:
            return [gcp.container.NodePoolNodeConfigTaintArgs(key=key, value=value, effect="NO_SCHEDULE")]

        system_pool = autoscaling_pool(
            f"{name}-system-pool",
            SYSTEM_POOL_NAME,
            1,
            1,
            SYSTEM_POOL_MAX_NODES,
            node_config(settings.system_machine_type),
        )
        serving_pool = autoscaling_pool(
            f"{name}-pool",
            settings.node_pool_name,
            settings.initial_nodes,
            settings.min_nodes,
            settings.max_nodes,
            node_config(
                settings.machine_type,
                settings.disk_size_gb,
                taints=taint(SERVING_TAINT_KEY, SERVING_TAINT_VALUE),
                spot=settings.spot_nodes or None,
                **_gpu_node_config(settings.accelerator),
            ),
        )
        pools = [system_pool, serving_pool]
        self.load_generator_pool = None
        if settings.load_generator_nodes:
            load_pool = autoscaling_pool(
                f"{name}-load-pool",
                LOAD_POOL_NAME,
                0,
                0,
                settings.load_generator_nodes,
                node_config(LOAD_POOL_MACHINE_TYPE, taints=taint(LOAD_TAINT_KEY, LOAD_TAINT_VALUE)),
            )
            pools.append(load_pool)
            self.load_generator_pool = load_pool.name

        self.name = cluster.name
        self.workload_pool = cluster.workload_identity_config.apply(
            lambda config: config.workload_pool if config and config.workload_pool else ""
        )
        self.node_pool_name = serving_pool.name
        self.node_account_member = node_account.member
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda parts: gke_kubeconfig(settings.project, settings.zone, *parts)
            )
        )
        # Workloads wait for both pools: without nodes they would be applied and never schedule.
        # The cluster's id changes only when the cluster is replaced, so a new endpoint or CA updates the
        # provider instead of replacing it and every Kubernetes object with it. Unreachable clusters are not
        # dropped from state (no delete_unreachable): see docs/operations.md, "Tear down".
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            cluster_identifier=cluster.id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=pools),
        )

        self.namespace = args.namespace
        self.namespace_ready = workload_namespace(
            f"{name}-namespace", args.namespace, args.instance, self.provider, self
        )
        self.register_outputs({"name": self.name, "nodePoolName": self.node_pool_name, "kubeconfig": self.kubeconfig})


def _gpu_node_config(accelerator: str | None) -> dict:
    """One GPU per node with GKE's own driver installation, and image streaming for the multi-GB GPU image."""
    if accelerator is None:
        return {}
    return {
        "guest_accelerators": [
            gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=accelerator,
                count=1,
                gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    gpu_driver_version="DEFAULT"
                ),
            )
        ],
        "gcfs_config": gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
    }
