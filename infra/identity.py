"""A Google identity for pods: a Google service account bound through Workload Identity to a Kubernetes one."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"
# GKE's metadata server gives a pod of this Kubernetes account the named Google account's tokens.
GKE_SERVICE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"


@dataclass(frozen=True)
class KubernetesTarget:
    """Where the stack's pods run: their namespace on the cluster, and what a resource for them needs."""

    project: str
    namespace: str
    workload_pool: pulumi.Input[str]
    provider: k8s.Provider
    # What Google identities wait for (the IAM API) and what Kubernetes objects wait for (the namespace).
    iam_ready: list[pulumi.Resource]
    namespace_ready: list[pulumi.Resource]


def pod_service_account(
    name: str,
    account_name: str,
    namespace: str,
    labels: dict[str, str],
    google_account: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ServiceAccount:
    """The Kubernetes account pods run as: no API token mounted (they never call the API server), and, where
    `google_account` is given, annotated to act as it through Workload Identity."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=account_name,
            namespace=namespace,
            labels=labels,
            annotations=None if google_account is None else {GKE_SERVICE_ACCOUNT_ANNOTATION: google_account},
        ),
        automount_service_account_token=False,
        opts=opts,
    )


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    kube_target: KubernetesTarget
    account_id: str
    display_name: str
    service_account_name: str
    labels: dict[str, str]


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
        kube_target = args.kube_target
        google = pulumi.ResourceOptions(parent=self, depends_on=kube_target.iam_ready)
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            account_id=args.account_id,
            display_name=args.display_name,
            project=kube_target.project,
            opts=google,
        )
        binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_ROLE,
            member=pulumi.Output.concat(
                "serviceAccount:", kube_target.workload_pool, f"[{kube_target.namespace}/{args.service_account_name}]"
            ),
            opts=google,
        )
        kubernetes_account = pod_service_account(
            name,
            args.service_account_name,
            kube_target.namespace,
            args.labels,
            account.email,
            pulumi.ResourceOptions(parent=self, provider=kube_target.provider, depends_on=kube_target.namespace_ready),
        )
        self.email = account.email
        self.member = account.member
        self.service_account_name = args.service_account_name
        self.ready = [binding, kubernetes_account]
        self.register_outputs({"email": self.email})
