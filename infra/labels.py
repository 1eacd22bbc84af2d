"""The Kubernetes recommended labels, defined once for every object the stack declares."""

PART_OF = "tfserving-gke"
MANAGED_BY = "pulumi"
COMPONENT_LABEL = "app.kubernetes.io/component"
# The role of the pods that only hold room for serving replicas (warm_capacity.py); the policy pack exempts them
# from probes.
PLACEHOLDER_COMPONENT = "capacity-placeholder"


def recommended_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """`app.kubernetes.io/*` labels: what the object is, which stack made it, and its role."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
