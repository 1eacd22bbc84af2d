"""The Google Cloud APIs the stack calls, enabled before anything that needs them.

A new project has few APIs on, and the first `pulumi up` would otherwise stop at
the first resource with "API has not been used in project … or it is disabled".
Each resource that calls an API depends on its enablement (`depends_on`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

COMPUTE = "compute.googleapis.com"  # node VMs, the load balancer, Cloud Router and NAT
CONTAINER = "container.googleapis.com"  # the GKE cluster and its node pools
IAM = "iam.googleapis.com"  # the service accounts and Workload Identity bindings
RESOURCE_MANAGER = "cloudresourcemanager.googleapis.com"  # project-level IAM grants read the project's policy
STORAGE = "storage.googleapis.com"  # the model bucket
ALL = (COMPUTE, CONTAINER, IAM, RESOURCE_MANAGER, STORAGE)
ARTIFACT_REGISTRY = "artifactregistry.googleapis.com"  # the Docker Hub mirror of GPU stacks
IMAGE_STREAMING = "containerfilesystem.googleapis.com"  # GKE image streaming
IMAGE_MIRROR = (ARTIFACT_REGISTRY, IMAGE_STREAMING)


@dataclass(frozen=True)
class ProjectApisArgs:
    project: str
    # GPU stacks pull their image through a mirror and stream it.
    image_mirror: bool = False


class ProjectApis(pulumi.ComponentResource):
    """Enables each API once; `needs(...)` gives what a resource must wait for."""

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:ProjectApis", name, None, opts)
        self._services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.', 1)[0]}",
                service=api,
                project=args.project,
                # Other work in the project may use these APIs: never switch one off on destroy.
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in (*ALL, *(IMAGE_MIRROR if args.image_mirror else ()))
        }
        self.register_outputs({})

    def needs(self, *apis: str) -> list[pulumi.Resource]:
        return [self._services[api] for api in apis]
