"""A Google identity for pods: a Google service account bound through Workload Identity to a Kubernetes one."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    project: str
    account_id: str
    display_name: str
    namespace: str
    service_account_name: str
    labels: dict[str, str]
    workload_pool: pulumi.Input[str]
    provider: k8s.Provider
    # What the Google resources and the Kubernetes ones wait for (enabled APIs; the namespace).
    google_ready: list[pulumi.Resource]
    kubernetes_ready: list[pulumi.Resource]


class WorkloadIdentity(pulumi.ComponentResource):
    """Pods running as `service_account_name` act as the Google account `email`, which holds no role yet.

    GKE's metadata server identifies the pod by its Kubernetes service account, so the
    pod needs no API token (`automountServiceAccountToken: false`) and no key exists.
    """

    email: pulumi.Output[str]
    member: pulumi.Output[str]
    service_account_name: str
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:WorkloadIdentity", name, None, opts)
        google = pulumi.ResourceOptions(parent=self, depends_on=args.google_ready)
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            account_id=args.account_id,
            display_name=args.display_name,
            project=args.project,
            opts=google,
        )
        binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_ROLE,
            member=pulumi.Output.concat(
                "serviceAccount:", args.workload_pool, f"[{args.namespace}/{args.service_account_name}]"
            ),
            opts=google,
        )
        kubernetes_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.service_account_name,
                namespace=args.namespace,
                labels=args.labels,
                annotations={"iam.gke.io/gcp-service-account": account.email},
            ),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=args.kubernetes_ready),
        )
        self.email = account.email
        self.member = account.member
        self.service_account_name = args.service_account_name
        self.ready = [binding, kubernetes_account]
        self.register_outputs({"email": self.email})
