"""The serving pods' identity: a Kubernetes service account, and on the stack's own cluster the Google account it acts
as through Workload Identity, which may read the model bucket and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.identity import KubernetesTarget, WorkloadIdentity, WorkloadIdentityArgs, pod_service_account

BUCKET_READER_ROLE = "roles/storage.objectViewer"


@dataclass(frozen=True)
class ModelBucketReader:
    """On the stack's own cluster: the pods read the model bucket as a Google account of their own."""

    bucket_name: pulumi.Input[str]
    account_id: str


@dataclass(frozen=True)
class ServingIdentityArgs:
    account_name: str
    namespace: str
    kube_target: KubernetesTarget
    # None on a cluster the user already has: a plain service account, annotated with `google_service_account` for
    # Workload Identity where one is given.
    bucket_reader: ModelBucketReader | None
    google_service_account: str
    labels: dict[str, str]


def serving_identity(
    name: str,
    args: ServingIdentityArgs,
    google_child: pulumi.ResourceOptions,
    k8s_child: pulumi.ResourceOptions,
) -> tuple[pulumi.Input[str], list[pulumi.Resource]]:
    """The pods' service account name, and what must exist before they start."""
    if args.bucket_reader is None:
        account = pod_service_account(
            name, args.account_name, args.namespace, args.labels, args.google_service_account or None, k8s_child
        )
        return args.account_name, [account]
    # TF Serving reads gs:// as this Google account, which may read the model bucket and nothing else.
    reader = WorkloadIdentity(
        f"{name}-reader",
        WorkloadIdentityArgs(
            kube_target=args.kube_target,
            account_id=args.bucket_reader.account_id,
            display_name="TF Serving model reader",
            service_account_name=args.account_name,
            labels=args.labels,
        ),
        opts=google_child,
    )
    bucket_read = gcp.storage.BucketIAMMember(
        f"{name}-reads-bucket",
        bucket=args.bucket_reader.bucket_name,
        role=BUCKET_READER_ROLE,
        member=reader.member,
        opts=google_child,
    )
    return reader.service_account_name, [bucket_read, *reader.ready]
