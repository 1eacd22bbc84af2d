"""The Kubernetes recommended labels, defined once for every object the stack declares."""

PART_OF = "tfserving-gke"
MANAGED_BY = "pulumi"
COMPONENT_LABEL = "app.kubernetes.io/component"
# Which stack made an object, and of which project: what infra/ownership.py recognises as the stack's own.
INSTANCE_LABEL = "app.kubernetes.io/instance"
PART_OF_LABEL = "app.kubernetes.io/part-of"
# The role of the pods that only hold room for serving replicas (warm_capacity.py); the policy pack exempts them
# from probes.
PLACEHOLDER_COMPONENT = "capacity-placeholder"


def recommended_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """`app.kubernetes.io/*` labels: what the object is, which stack made it, and its role."""
    return {
        "app.kubernetes.io/name": name,
        INSTANCE_LABEL: instance,
        COMPONENT_LABEL: component,
        PART_OF_LABEL: PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
