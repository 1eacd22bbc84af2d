"""The GKE cluster, its autoscaling node pool and the Kubernetes provider that targets it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.settings import ClusterSettings

# What a node's own account needs: Google's minimal node role (logs, metrics) and image pulls.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings


class Cluster(pulumi.ComponentResource):
    """A zonal GKE cluster with Workload Identity whose only node pool autoscales."""

    name: pulumi.Output[str]
    workload_pool: pulumi.Output[str]
    node_pool_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:Cluster", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        container_api = gcp.projects.Service(
            f"{name}-container-api",
            service="container.googleapis.com",
            project=settings.project,
            # Other workloads in the project may use GKE too: never switch the API off on destroy.
            disable_on_destroy=False,
            opts=child,
        )

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=f"{settings.name}-nodes",
            display_name=f"GKE nodes of {settings.name}",
            project=settings.project,
            opts=child,
        )
        node_grants = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.rsplit('/', 1)[-1]}",
                project=settings.project,
                role=role,
                member=node_account.member,
                opts=child,
            )
            for role in NODE_ROLES
        ]

        cluster = gcp.container.Cluster(
            name,
            name=settings.name,
            project=settings.project,
            location=settings.zone,
            deletion_protection=settings.deletion_protection,
            # The pool below replaces the default one, so that it can change without replacing the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(),
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[container_api]),
        )
        internet_access = self._nat(name, settings) if settings.private_nodes else []

        node_pool = gcp.container.NodePool(
            f"{name}-pool",
            name=settings.node_pool_name,
            project=settings.project,
            cluster=cluster.name,
            location=settings.zone,
            # initial_node_count, not node_count: node_count would undo the autoscaler on every update.
            initial_node_count=settings.initial_nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                min_node_count=settings.min_nodes,
                max_node_count=settings.max_nodes,
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=settings.machine_type,
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA",
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_grants, *internet_access]),
        )

        self.name = cluster.name
        self.workload_pool = cluster.workload_identity_config.apply(
            lambda config: config.workload_pool if config and config.workload_pool else ""
        )
        self.node_pool_name = node_pool.name
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda parts: gke_kubeconfig(settings.project, settings.zone, *parts)
            )
        )
        # Workloads wait for the pool: without nodes they would be applied and never schedule.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            delete_unreachable=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_pool]),
        )
        self.register_outputs({"name": self.name, "nodePoolName": self.node_pool_name, "kubeconfig": self.kubeconfig})

    def _nat(self, name: str, settings: ClusterSettings) -> list[pulumi.Resource]:
        """Private nodes have no public address: Cloud NAT lets them pull images from Docker Hub."""
        router = gcp.compute.Router(
            f"{name}-router",
            project=settings.project,
            region=settings.region,
            network="default",
            opts=pulumi.ResourceOptions(parent=self),
        )
        nat = gcp.compute.RouterNat(
            f"{name}-nat",
            project=settings.project,
            region=settings.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [nat]


def gke_kubeconfig(project: str, zone: str, cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates through gke-gcloud-auth-plugin, like `gcloud ... get-credentials` writes."""
    context = f"gke_{project}_{zone}_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_certificate},
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "Install gke-gcloud-auth-plugin: "
                            "`gcloud components install gke-gcloud-auth-plugin`.",
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        indent=2,
    )
