"""What guards the serving pods beside the autoscaler: who may reach them, and how many may be away at once."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.egress import google_apis
from infra.serving_container import GRPC_PORT, REST_PORT


def guard_serving_pods(
    name: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    pod_selector: k8s.meta.v1.LabelSelectorArgs,
    opts: pulumi.ResourceOptions,
) -> None:
    """The serving pods' NetworkPolicy and PodDisruptionBudget, children of the Serving component (`opts`)."""
    # Only the serving ports may be reached; the load balancer's source ranges narrow who reaches them. They reach
    # only the model's bucket and what reading it takes (infra/egress.py).
    k8s.networking.v1.NetworkPolicy(
        f"{name}-network-policy",
        metadata=metadata,
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=pod_selector,
            policy_types=["Ingress", "Egress"],
            egress=google_apis(),
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                        for port in (GRPC_PORT, REST_PORT)
                    ]
                )
            ],
        ),
        opts=opts,
    )
    # At most one replica away at a time during drains, yet always one eviction allowed, so that
    # neither node upgrades nor the cluster autoscaler's scale-down are ever blocked.
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-disruption-budget",
        metadata=metadata,
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            selector=pod_selector,
            max_unavailable=1,
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )
