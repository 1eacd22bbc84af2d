"""The model bucket and the copy of the SavedModel into it.

A Cloud Storage source is copied server-side by a one-time Storage Transfer
Service job: the bytes never pass through the deployer's machine, preview reads
nothing, and no gsutil or gcloud is needed. A local source is uploaded as one
bucket object per file. Either way the copy is declared in state, and destroy
removes it (the bucket is force-destroyed with whatever it holds).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.settings import GcsModelSource, LocalModelSource, ModelSettings

# Storage Transfer Service writes to the sink with exactly these permissions:
# storage.buckets.get and storage.objects.list, create and delete.
TRANSFER_SINK_ROLE = "roles/storage.legacyBucketWriter"


@dataclass(frozen=True)
class ModelStoreArgs:
    settings: ModelSettings
    project: str
    location: str


class ModelStore(pulumi.ComponentResource):
    """A private bucket holding the served SavedModel under `<folder>/<version>/`."""

    bucket_name: pulumi.Output[str]
    model_uri: pulumi.Output[str]
    model_copy: list[pulumi.Resource]

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:ModelStore", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=settings.bucket_name,
            project=args.project,
            location=args.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Destroy empties the bucket first; the model is a copy and can always be made again.
            force_destroy=True,
            opts=child,
        )
        source = settings.source
        if isinstance(source, GcsModelSource):
            self.model_copy = self._transfer(name, bucket, source, settings.folder, args.project)
        else:
            self.model_copy = self._upload(name, bucket, source, settings.folder)

        self.bucket_name = bucket.name
        self.model_uri = bucket.name.apply(lambda bucket_name: f"gs://{bucket_name}/{settings.folder}")
        self.register_outputs({"bucketName": self.bucket_name, "modelUri": self.model_uri})

    def _transfer(
        self, name: str, bucket: gcp.storage.Bucket, source: GcsModelSource, folder: str, project: str
    ) -> list[pulumi.Resource]:
        transfer_api = gcp.projects.Service(
            f"{name}-transfer-api",
            service="storagetransfer.googleapis.com",
            project=project,
            disable_on_destroy=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        transfer_agent = gcp.storage.get_transfer_project_service_account_output(
            project=project, opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[transfer_api])
        )
        sink_access = gcp.storage.BucketIAMMember(
            f"{name}-transfer-sink",
            bucket=bucket.name,
            role=TRANSFER_SINK_ROLE,
            member=transfer_agent.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Start and end on the same day makes a one-time job that starts at once. The date only
        # matters at creation, so later runs on other days must not see it as a change.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        day = {"year": today.year, "month": today.month, "day": today.day}
        job = gcp.storage.TransferJob(
            f"{name}-copy",
            project=project,
            description=f"Copy the SavedModel {source.uri} into the model bucket",
            transfer_spec=gcp.storage.TransferJobTransferSpecArgs(
                gcs_data_source=gcp.storage.TransferJobTransferSpecGcsDataSourceArgs(
                    bucket_name=source.bucket, path=f"{source.path}/"
                ),
                gcs_data_sink=gcp.storage.TransferJobTransferSpecGcsDataSinkArgs(
                    bucket_name=bucket.name, path=f"{folder}/"
                ),
            ),
            schedule=gcp.storage.TransferJobScheduleArgs(
                schedule_start_date=gcp.storage.TransferJobScheduleScheduleStartDateArgs(**day),
                schedule_end_date=gcp.storage.TransferJobScheduleScheduleEndDateArgs(**day),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sink_access], ignore_changes=["schedule"]),
        )
        return [job]

    def _upload(
        self, name: str, bucket: gcp.storage.Bucket, source: LocalModelSource, folder: str
    ) -> list[pulumi.Resource]:
        return [
            gcp.storage.BucketObject(
                f"{name}-{relative}",
                bucket=bucket.name,
                name=f"{folder}/{relative}",
                source=pulumi.FileAsset(str(path)),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for path, relative in model_files(source.directory)
        ]


def model_files(directory: Path) -> list[tuple[Path, str]]:
    """Every file below the SavedModel directory, with its path relative to it, in a stable order."""
    return sorted((path, path.relative_to(directory).as_posix()) for path in directory.rglob("*") if path.is_file())
