"""The model bucket and the copy of the SavedModel into it.

A Cloud Storage source is copied by a Kubernetes Job on the cluster, running the
Google Cloud CLI under a Google account of its own that may write only the model
bucket. It needs nothing of the source but reading its objects, which public
model buckets grant to everyone; the bytes never pass through the deployer's
machine; and pulumi-kubernetes waits for the Job to complete and reports its
failure with the copy's own last lines. The Job is named after what it copies,
so a new source is a new Job: the copy runs again and the serving pods roll.
A local source is uploaded as one bucket object per file.

Each source lands in a folder of its own, `<modelFolder>/<digest of the source>/`, which the ConfigMap points at:
the running pods poll their own folder, so a new model reaches them only through the roll (TF Serving would load a
new version number it finds in the folder it serves, and a copy that removes unmatched objects could take away the
version it serves), and a failed copy leaves them untouched. Earlier copies stay in the bucket until destroy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra import apis, timing
from infra.apis import ProjectApis
from infra.egress import google_apis
from infra.identity import KubernetesTarget, WorkloadIdentity, WorkloadIdentityArgs
from infra.labels import recommended_labels
from infra.pods import (
    checkov_skips,
    restricted_container_security,
    restricted_pod_security,
    serve_nothing_policy,
    tmp_mount,
    tmp_volume,
)
from infra.settings_values import GcsModelSource, ModelSettings

COPY_NAME = "model-copy"
COPY_CONTAINER = "copy"
# objects.* to write and replace the model; buckets.get, which `gcloud storage` asks of its destination.
COPIER_ROLES = ("roles/storage.objectAdmin", "roles/storage.legacyBucketReader")
# The destination ends up equal to the source (stale versions removed only after the new ones are in),
# and the copy counts only if a SavedModel version folder arrived.
COPY_SCRIPT = """\
set -euo pipefail
echo "Copying ${SOURCE} to ${DESTINATION}"
gcloud storage rsync --recursive --delete-unmatched-destination-objects "${SOURCE}" "${DESTINATION}"
# Listed first, then searched: with pipefail, `grep -q` quitting at its first match could fail the listing.
listing="$(gcloud storage ls --recursive "${DESTINATION}")"
if ! grep -Eq '/[0-9]+/saved_model\\.pb$' <<<"${listing}"; then
  echo "No <version>/saved_model.pb arrived in ${DESTINATION}: is ${SOURCE} a SavedModel folder?" >&2
  exit 1
fi
echo "Copied."
"""
REPLACE_UNREADY = "pulumi.com/replaceUnready"
# Hex digits of a source's digest in the name of its folder.
FOLDER_DIGEST = 10
# Retries while a new IAM grant or the pod's Workload Identity token is not yet in effect.
COPY_RETRIES = 6


@dataclass(frozen=True)
class ModelStoreArgs:
    settings: ModelSettings
    project: str
    location: str
    apis: ProjectApis
    cluster_name: str
    instance: str
    kube_target: KubernetesTarget


class ModelStore(pulumi.ComponentResource):
    """A private bucket holding the served SavedModel under `<folder>/<version>/`."""

    bucket_name: pulumi.Output[str]
    model_uri: pulumi.Output[str]
    model_copy: list[pulumi.Resource]
    # Changes whenever what is served changes: the serving pods carry it, so they roll with it.
    revision: str

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:ModelStore", name, None, opts)
        settings = args.settings
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=settings.bucket_name,
            project=args.project,
            location=args.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Destroy empties the bucket first; the model is a copy and can always be made again.
            force_destroy=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.apis.needs(apis.STORAGE)),
        )
        source = settings.source
        if isinstance(source, GcsModelSource):
            folder = f"{settings.folder}/{_digest(source.uri)[:FOLDER_DIGEST]}"
            destination = f"gs://{settings.bucket_name}/{folder}"
            self.revision = _digest(source.uri, destination, settings.copy_image)
            self.model_copy = self._copy_job(name, args, bucket, source, destination)
        else:
            files = model_files(source.directory)
            self.revision = _digest(*(f"{relative}:{_file_digest(path)}" for path, relative in files))
            folder = f"{settings.folder}/{self.revision[:FOLDER_DIGEST]}"
            self.model_copy = self._upload(name, bucket, files, folder)

        self.bucket_name = bucket.name
        self.model_uri = bucket.name.apply(lambda bucket_name: f"gs://{bucket_name}/{folder}")
        self.register_outputs({"bucketName": self.bucket_name, "modelUri": self.model_uri})

    def _copy_job(
        self, name: str, args: ModelStoreArgs, bucket: gcp.storage.Bucket, source: GcsModelSource, destination: str
    ) -> list[pulumi.Resource]:
        kube_target = args.kube_target
        labels = recommended_labels(COPY_NAME, args.instance, "model-copy")
        copier = WorkloadIdentity(
            f"{name}-copier",
            WorkloadIdentityArgs(
                kube_target=kube_target,
                account_id=f"{args.cluster_name}-copier",
                display_name="Copies the served model into its bucket",
                service_account_name=COPY_NAME,
                labels=labels,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_workspace = pulumi.ResourceOptions(
            parent=self, provider=kube_target.provider, depends_on=kube_target.namespace_ready
        )
        grants = [
            gcp.storage.BucketIAMMember(
                f"{name}-copier-{role.rsplit('.', 1)[-1]}",
                bucket=bucket.name,
                role=role,
                member=copier.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for role in COPIER_ROLES
        ]
        # It copies from Cloud Storage to Cloud Storage as its own Google account, and serves nothing.
        no_ingress = serve_nothing_policy(
            f"{name}-copy-network-policy", COPY_NAME, kube_target.namespace, labels, google_apis(), in_workspace
        )
        image = args.settings.copy_image
        job = k8s.batch.v1.Job(
            f"{name}-copy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                # Named after what it copies: another source, folder or image is another Job.
                name=f"{COPY_NAME}-{self.revision[:10]}",
                namespace=kube_target.namespace,
                labels=labels,
                annotations={
                    # A copy that failed (IAM still propagating, the deadline, an image pull) is replaced by the
                    # next `up` instead of awaited again as it is; pulumi-kubernetes honours this since v3.2.0.
                    REPLACE_UNREADY: "true",
                    **checkov_skips(
                        image,
                        {
                            "CKV_K8S_11": "No CPU limit: a one-off copy may use a spare core; memory is limited",
                            "CKV_K8S_8": "A run-to-completion copy has no liveness to probe; its deadline bounds it",
                            "CKV_K8S_9": "A run-to-completion copy serves nothing, so it has no readiness",
                        },
                    ),
                },
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=COPY_RETRIES,
                active_deadline_seconds=timing.MODEL_COPY_DEADLINE_SECONDS,
                # No ttlSecondsAfterFinished: the finished Job stays, so Pulumi's state matches the cluster.
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        service_account_name=copier.service_account_name,
                        automount_service_account_token=False,
                        security_context=restricted_pod_security(),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=COPY_CONTAINER,
                                image=image,
                                image_pull_policy="IfNotPresent",
                                command=["/bin/bash", "-c", COPY_SCRIPT],
                                env=[
                                    k8s.core.v1.EnvVarArgs(name="SOURCE", value=source.uri),
                                    k8s.core.v1.EnvVarArgs(name="DESTINATION", value=destination),
                                    # gcloud writes its configuration; the root filesystem is read-only.
                                    k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
                                    k8s.core.v1.EnvVarArgs(name="CLOUDSDK_CONFIG", value="/tmp/gcloud"),
                                    k8s.core.v1.EnvVarArgs(name="CLOUDSDK_CORE_DISABLE_PROMPTS", value="1"),
                                ],
                                # Disk: gcloud's configuration and scratch in /tmp, and its logs.
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
                                    limits={"memory": "1Gi", "ephemeral-storage": "3Gi"},
                                ),
                                security_context=restricted_container_security(),
                                volume_mounts=[tmp_mount()],
                                # A failed copy's last log lines become its termination message, which
                                # `pulumi up` prints with the Job's failure.
                                termination_message_policy="FallbackToLogsOnError",
                            )
                        ],
                        volumes=[tmp_volume("2Gi")],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                in_workspace,
                pulumi.ResourceOptions(
                    depends_on=[*copier.ready, *grants, no_ingress],
                    custom_timeouts=pulumi.CustomTimeouts(
                        create=timing.MODEL_COPY_TIMEOUT, update=timing.MODEL_COPY_TIMEOUT
                    ),
                ),
            ),
        )
        return [job]

    def _upload(
        self, name: str, bucket: gcp.storage.Bucket, files: list[tuple[Path, str]], folder: str
    ) -> list[pulumi.Resource]:
        return [
            gcp.storage.BucketObject(
                f"{name}-{relative}",
                bucket=bucket.name,
                name=f"{folder}/{relative}",
                source=pulumi.FileAsset(str(path)),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for path, relative in files
        ]


def model_files(directory: Path) -> list[tuple[Path, str]]:
    """Every file below the SavedModel directory, with its path relative to it, in a stable order."""
    return sorted((path, path.relative_to(directory).as_posix()) for path in directory.rglob("*") if path.is_file())


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
