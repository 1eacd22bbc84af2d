"""The stack's own VPC network: one subnet in the cluster's region, with the secondary ranges a VPC-native cluster
takes its pods' and Services' addresses from, Private Google Access on (nodes without an external address still
reach Google's APIs, image streaming among them), and with privateNodes a Cloud NAT for everything else.

A project need not have a `default` network: organizations that enforce `compute.skipDefaultNetworkCreation`
create projects without one, and a cluster placed there fails with "has no network named default".
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra import apis
from infra.apis import ProjectApis
from infra.settings_values import ClusterSettings

NODES_RANGE = "10.10.0.0/20"
PODS_RANGE_NAME, PODS_RANGE = "pods", "10.16.0.0/14"
SERVICES_RANGE_NAME, SERVICES_RANGE = "services", "10.20.0.0/20"


@dataclass(frozen=True)
class StackNetworkArgs:
    settings: ClusterSettings
    apis: ProjectApis


class StackNetwork(pulumi.ComponentResource):
    """A VPC network and subnet of the stack's own, and the NAT private nodes need."""

    network: pulumi.Output[str]
    subnetwork: pulumi.Output[str]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: StackNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:StackNetwork", name, None, opts)
        settings = args.settings
        compute = pulumi.ResourceOptions(parent=self, depends_on=args.apis.needs(apis.COMPUTE))
        network = gcp.compute.Network(
            name,
            name=f"{settings.name}-net",
            project=settings.project,
            auto_create_subnetworks=False,
            opts=compute,
        )
        subnetwork = gcp.compute.Subnetwork(
            f"{name}-nodes",
            name=f"{settings.name}-nodes",
            project=settings.project,
            region=settings.region,
            network=network.id,
            ip_cidr_range=NODES_RANGE,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE_NAME, ip_cidr_range=PODS_RANGE),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE_NAME, ip_cidr_range=SERVICES_RANGE
                ),
            ],
            private_ip_google_access=True,
            opts=compute,
        )
        self.network, self.subnetwork = network.id, subnetwork.id
        self.ready = [subnetwork]
        if settings.private_nodes:
            router = gcp.compute.Router(
                f"{name}-router",
                project=settings.project,
                region=settings.region,
                network=network.id,
                opts=compute,
            )
            # Private nodes have no public address: Cloud NAT lets them pull images from Docker Hub.
            self.ready.append(
                gcp.compute.RouterNat(
                    f"{name}-nat",
                    project=settings.project,
                    region=settings.region,
                    router=router.name,
                    nat_ip_allocate_option="AUTO_ONLY",
                    source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                    opts=compute,
                )
            )
        self.register_outputs({"network": self.network, "subnetwork": self.subnetwork})
