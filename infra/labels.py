"""The Kubernetes recommended labels, defined once for every object the stack declares."""

PART_OF = "tfserving-gke"
MANAGED_BY = "pulumi"


def recommended_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """`app.kubernetes.io/*` labels: what the object is, which stack made it, and its role."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
