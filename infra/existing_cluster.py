"""A cluster the user already has: the Kubernetes provider for it and the workload namespace, nothing of Google."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.existing_settings import ExistingClusterSettings
from infra.namespace import workload_namespace
from infra.ownership import ClusterTarget


@dataclass(frozen=True)
class ExistingClusterArgs:
    settings: ExistingClusterSettings
    namespace: str
    instance: str


class ExistingCluster(pulumi.ComponentResource):
    """The serving system's home on a cluster reached through the user's kubeconfig."""

    provider: k8s.Provider
    namespace: str
    namespace_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:ExistingCluster", name, None, opts)
        settings = args.settings
        # The path, not the file's content: credentials stay out of the state, and a kubeconfig whose token
        # is refreshed (gcloud, exec plugins) is no change to the stack. pulumi-kubernetes reads either.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=str(settings.kubeconfig_path),
            context=settings.context or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace = args.namespace
        self.namespace_ready = workload_namespace(
            f"{name}-namespace",
            args.namespace,
            args.instance,
            self.provider,
            self,
            shared_cluster=ClusterTarget(settings.kubeconfig_path, settings.context),
        )
        self.register_outputs({})
