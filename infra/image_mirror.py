"""An Artifact Registry remote repository that proxies Docker Hub, so GPU nodes stream their multi-GB image.

GKE image streaming serves an image's files on demand, but only from Artifact Registry
(standard or remote repositories): a new GPU node starts the 2.8.0-gpu image (about
4 GB) in seconds instead of pulling it whole. The repository caches what it proxies
and is deleted with the stack, cache included.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

READER_ROLE = "roles/artifactregistry.reader"
DOCKER_HUB_REGISTRIES = ("docker.io/", "index.docker.io/")


@dataclass(frozen=True)
class ImageMirrorArgs:
    project: str
    region: str
    repository_id: str
    # Who pulls through it: the nodes' service account.
    reader: pulumi.Input[str]
    apis_ready: list[pulumi.Resource]


class ImageMirror(pulumi.ComponentResource):
    """Docker Hub, proxied and cached in the project's region."""

    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ImageMirrorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:ImageMirror", name, None, opts)
        self._host = f"{args.region}-docker.pkg.dev/{args.project}/{args.repository_id}"
        repository = gcp.artifactregistry.Repository(
            f"{name}-docker-hub",
            project=args.project,
            location=args.region,
            repository_id=args.repository_id,
            description="Docker Hub, proxied for GKE image streaming",
            format="DOCKER",
            mode="REMOTE_REPOSITORY",
            remote_repository_config=gcp.artifactregistry.RepositoryRemoteRepositoryConfigArgs(
                description="Docker Hub",
                docker_repository=gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryArgs(
                    public_repository="DOCKER_HUB"
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.apis_ready),
        )
        grant = gcp.artifactregistry.RepositoryIamMember(
            f"{name}-nodes-read",
            project=args.project,
            location=args.region,
            repository=repository.name,
            role=READER_ROLE,
            member=args.reader,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready = [repository, grant]
        self.register_outputs({})

    def image(self, reference: str) -> str:
        """The mirror's address of a Docker Hub image; an image from another registry stays as it is."""
        for prefix in DOCKER_HUB_REGISTRIES:
            reference = reference.removeprefix(prefix)
        first = reference.split("/", 1)[0]
        if "/" in reference and ("." in first or ":" in first or first == "localhost"):
            return reference
        # Docker Hub's official images live under library/.
        return f"{self._host}/{reference if '/' in reference else 'library/' + reference}"
