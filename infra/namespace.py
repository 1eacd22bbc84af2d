"""The workload namespace, created with the restricted Pod Security Standard, on whichever cluster the stack uses."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.labels import recommended_labels
from infra.namespace_guard import NamespaceGuard
from infra.ownership import ClusterTarget

BUILT_IN_NAMESPACES = ("default",)
# Pod Security Standard the workload namespace enforces; the stack's pods meet it.
POD_SECURITY_LEVEL = "restricted"


def pod_security_labels(level: str) -> dict[str, str]:
    """Enforce the Pod Security Standard, and audit and warn on it too, so kubectl shows why a pod is refused."""
    return {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}


def workload_namespace(
    resource_name: str,
    namespace: str,
    instance: str,
    provider: k8s.Provider,
    parent: pulumi.Resource,
    shared_cluster: ClusterTarget | None = None,
) -> list[pulumi.Resource]:
    """What objects in the namespace depend on: the namespace, and on a cluster the stack shares (`shared_cluster`)
    the guard that keeps it from being deleted with another team's objects in it; none for a namespace Kubernetes
    has anyway."""
    if namespace in BUILT_IN_NAMESPACES:
        return []
    created = k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={
                **recommended_labels(namespace, instance, "namespace"),
                **pod_security_labels(POD_SECURITY_LEVEL),
            },
        ),
        # A new namespace moves the stack: the old objects go first, then the new ones come in, so that a full
        # pool has room for them (the engine deletes what depends on a delete-first replacement before it).
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, delete_before_replace=True),
    )
    if shared_cluster is None:
        return [created]
    return [
        NamespaceGuard(
            f"{resource_name}-guard",
            created,
            namespace,
            shared_cluster,
            instance,
            pulumi.ResourceOptions(parent=parent),
        )
    ]
