"""The policy pack's policies: each rule of rules.py with its name, description and enforcement level."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

from policy.rules import (
    bucket_private_and_uniform,
    cluster_deletion_protection,
    deployment_requests_and_probes,
    gpus_have_drivers_and_tolerations,
    hpa_owns_replicas,
    images_pinned,
    load_balancer_has_ranges,
    load_balancer_ranges_not_world,
    node_pool_holds_hpa_minimum,
)

POLICIES = [
    ResourceValidationPolicy(
        name="deployment-requests-and-probes",
        description="Containers declare CPU and memory requests, a readiness probe, and a liveness or startup probe.",
        validate=deployment_requests_and_probes,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="images-pinned",
        description="Container images are pinned by version tag or digest.",
        validate=images_pinned,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="bucket-private-and-uniform",
        description="Buckets use uniform access, enforce public access prevention and are granted to no one public.",
        validate=bucket_private_and_uniform,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="load-balancer-ranges-not-world",
        description="Configured load balancer source ranges do not include the whole internet.",
        validate=load_balancer_ranges_not_world,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="load-balancer-has-ranges",
        description="Load balancers name the ranges that may reach them (advice: the lab leaves them open).",
        validate=load_balancer_has_ranges,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="cluster-deletion-protection",
        description="The cluster sets deletion protection explicitly, and as the stack's policy config expects.",
        validate=cluster_deletion_protection,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"deletionProtection": {"type": "boolean", "description": "the stack's deletionProtection"}}
        ),
    ),
    ResourceValidationPolicy(
        name="gpu-drivers-and-tolerations",
        description="GPU node pools have GKE install drivers, and pods that ask for a GPU tolerate the GPU taint.",
        validate=gpus_have_drivers_and_tolerations,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="hpa-owns-replicas",
        description="A Deployment scaled by an HPA declares no replica count.",
        validate=hpa_owns_replicas,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="node-pool-holds-hpa-minimum",
        description="The node pool can hold at least the HPA's minimum number of serving pods.",
        validate=node_pool_holds_hpa_minimum,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
