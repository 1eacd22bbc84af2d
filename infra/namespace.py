"""The workload namespace, created with the restricted Pod Security Standard, on whichever cluster the stack uses."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.labels import recommended_labels

BUILT_IN_NAMESPACES = ("default",)
# Pod Security Standard the workload namespace enforces; the stack's pods meet it.
POD_SECURITY_LEVEL = "restricted"


def pod_security_labels(level: str) -> dict[str, str]:
    """Enforce the Pod Security Standard, and audit and warn on it too, so kubectl shows why a pod is refused."""
    return {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}


def workload_namespace(
    resource_name: str, namespace: str, instance: str, provider: k8s.Provider, parent: pulumi.Resource
) -> list[pulumi.Resource]:
    """The namespace's resource, for objects in it to depend on; none for a namespace Kubernetes has anyway."""
    if namespace in BUILT_IN_NAMESPACES:
        return []
    return [
        k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    **recommended_labels(namespace, instance, "namespace"),
                    **pod_security_labels(POD_SECURITY_LEVEL),
                },
            ),
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
    ]
