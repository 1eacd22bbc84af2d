"""Helpers of the end-to-end test: its settings, the stack it makes, and what Google must not hold afterwards."""

from __future__ import annotations

import csv
import datetime
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pulumi.automation import OpType

PROJECT_ENV = "TFSERVING_E2E_PROJECT"
ZONE_ENV = "TFSERVING_E2E_ZONE"
HOW_TO_RUN = (
    f"end-to-end test not run: set {PROJECT_ENV}=<project-id> (and gcloud application-default credentials, "
    "the Pulumi CLI and PULUMI_CONFIG_PASSPHRASE) to run it: "
    f"{PROJECT_ENV}=my-project .venv/bin/python -m pytest tests/e2e -s"
)
# What a change summary may contain when nothing is to change.
UNCHANGED = {"same"}


@dataclass(frozen=True)
class E2ESettings:
    project: str
    zone: str | None


def settings_from_env(environ: Mapping[str, str] = os.environ) -> E2ESettings | None:
    project = environ.get(PROJECT_ENV, "").strip()
    return E2ESettings(project, environ.get(ZONE_ENV, "").strip() or None) if project else None


def unique_stack_name(now: datetime.datetime | None = None, suffix: str | None = None) -> str:
    """e2e-MMDDHHMM-xxxx: short, so that the cluster and its service accounts may be named after it."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"e2e-{now:%m%d%H%M}-{suffix or secrets.token_hex(2)}"


def stack_settings(settings: E2ESettings, stack: str) -> dict[str, str]:
    """Config of the test stack: the lab's values, with names of its own so that nothing clashes."""
    config = {
        "gcp:project": settings.project,
        "tfserving-gke:clusterName": stack,
        "tfserving-gke:bucketName": f"{settings.project}-{stack}",
        "tfserving-gke:namespace": stack,
    }
    if settings.zone:
        config["tfserving-gke:zone"] = settings.zone
    return config


def changes(change_summary: Mapping[OpType, int]) -> dict[str, int]:
    """The operations of a preview other than `same`, with their counts."""
    named = {op.value: count for op, count in change_summary.items()}
    return {op: count for op, count in named.items() if count and op not in UNCHANGED}


def most_replicas_asked(timeline_csv: Path) -> int:
    """The highest replica count the HPA asked for while the watcher sampled."""
    with timeline_csv.open(newline="") as file:
        return max((int(row["hpa_desired_replicas"]) for row in csv.DictReader(file)), default=0)


class JsonGetter(Protocol):
    """What the leftover checks need of an authorized HTTP session: a GET (a POST with `body`) that returns the
    status and the JSON."""

    def __call__(self, url: str, body: dict | None = None) -> tuple[int, dict]: ...


COMPUTE = "https://compute.googleapis.com/compute/v1/projects"


def leftovers(get: JsonGetter, project: str, zone: str, stack: str, bucket: str, namespace: str) -> list[str]:
    """What of the stack Google still holds after destroy: the cluster, the bucket, what the LoadBalancer Service
    made (forwarding rule, address, firewall rules, health checks), the GPU mirror, service accounts and their
    project IAM bindings. The stack has no private nodes, so no router or NAT of its own."""
    found: list[str] = []
    status, _ = get(f"https://container.googleapis.com/v1/projects/{project}/locations/{zone}/clusters/{stack}")
    if status != 404:
        found.append(f"cluster {stack} (HTTP {status})")
    status, _ = get(f"https://storage.googleapis.com/storage/v1/b/{bucket}")
    if status != 404:
        found.append(f"bucket {bucket} (HTTP {status})")
    region = zone.rsplit("-", 1)[0]
    # GKE's service controller describes what it makes for a Service with the Service's namespace/name.
    service = f'"kubernetes.io/service-name":"{namespace}/'
    for kind, url in (
        ("forwarding rule", f"{COMPUTE}/{project}/regions/{region}/forwardingRules"),
        ("address", f"{COMPUTE}/{project}/regions/{region}/addresses"),
        ("firewall rule", f"{COMPUTE}/{project}/global/firewalls"),
        ("health check", f"{COMPUTE}/{project}/global/httpHealthChecks"),
        ("health check", f"{COMPUTE}/{project}/global/healthChecks"),
    ):
        _, listed = get(url)
        found += [
            f"{kind} {item['name']}"
            for item in listed.get("items", [])
            if service in item.get("description", "").replace(" ", "") or item["name"].startswith(f"gke-{stack}-")
        ]
    _, repositories = get(
        f"https://artifactregistry.googleapis.com/v1/projects/{project}/locations/{region}/repositories"
    )
    found += [
        f"repository {repository['name'].rsplit('/', 1)[-1]}"
        for repository in repositories.get("repositories", [])
        if repository["name"].rsplit("/", 1)[-1].startswith(f"{stack}-")
    ]
    _, accounts = get(f"https://iam.googleapis.com/v1/projects/{project}/serviceAccounts?pageSize=100")
    found += [
        f"service account {account['email']}"
        for account in accounts.get("accounts", [])
        if account["email"].startswith(f"{stack}-")
    ]
    _, policy = get(f"https://cloudresourcemanager.googleapis.com/v1/projects/{project}:getIamPolicy", {})
    found += [
        f"IAM binding {binding['role']} for {member}"
        for binding in policy.get("bindings", [])
        for member in binding.get("members", [])
        # A deleted account's bindings linger as deleted:serviceAccount:...; both count.
        if member.split(":")[-1].split("?")[0].startswith(f"{stack}-")
    ]
    return found
