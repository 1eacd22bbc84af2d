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
    now = now or datetime.datetime.now(datetime.UTC)
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


def listed(get: JsonGetter, url: str, key: str = "items") -> tuple[list[dict], str | None]:
    """Every item of a list, following its page tokens; or why it could not be read (a 403 or a 5xx is "could not
    check", never "nothing left")."""
    items: list[dict] = []
    page = ""
    while True:
        status, answer = get(f"{url}{'&' if '?' in url else '?'}pageToken={page}" if page else url)
        if status == 404:
            return items, None  # a region or service with none of them
        if status != 200:
            return items, f"HTTP {status}"
        items += answer.get(key, [])
        page = answer.get("nextPageToken", "")
        if not page:
            return items, None


def leftovers(get: JsonGetter, project: str, zone: str, stack: str, bucket: str, namespace: str) -> list[str]:
    """What of the stack Google still holds after destroy: the cluster, its network, the bucket, what the
    LoadBalancer Service made (forwarding rule, address, firewall rules, health checks, backend services, network
    endpoint groups: older and newer L4 load balancers), the GPU mirror, service accounts and their project IAM
    bindings. A list that could not be read is named as such: it may hold a leftover."""
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
        ("health check", f"{COMPUTE}/{project}/regions/{region}/healthChecks"),
        ("backend service", f"{COMPUTE}/{project}/regions/{region}/backendServices"),
        ("network endpoint group", f"{COMPUTE}/{project}/zones/{zone}/networkEndpointGroups"),
        ("network", f"{COMPUTE}/{project}/global/networks"),
        ("subnetwork", f"{COMPUTE}/{project}/regions/{region}/subnetworks"),
    ):
        items, problem = listed(get, url)
        if problem:
            found.append(f"{kind}s: could not check ({problem})")
        found += [
            f"{kind} {item['name']}"
            for item in items
            if service in item.get("description", "").replace(" ", "")
            or item["name"].startswith((f"gke-{stack}-", f"k8s1-{stack}", f"{stack}-"))
        ]
    repositories, problem = listed(
        get,
        f"https://artifactregistry.googleapis.com/v1/projects/{project}/locations/{region}/repositories",
        "repositories",
    )
    if problem:
        found.append(f"repositories: could not check ({problem})")
    found += [
        f"repository {repository['name'].rsplit('/', 1)[-1]}"
        for repository in repositories
        if repository["name"].rsplit("/", 1)[-1].startswith(f"{stack}-")
    ]
    accounts, problem = listed(
        get, f"https://iam.googleapis.com/v1/projects/{project}/serviceAccounts?pageSize=100", "accounts"
    )
    if problem:
        found.append(f"service accounts: could not check ({problem})")
    found += [f"service account {account['email']}" for account in accounts if account["email"].startswith(f"{stack}-")]
    status, policy = get(f"https://cloudresourcemanager.googleapis.com/v1/projects/{project}:getIamPolicy", {})
    if status != 200:
        found.append(f"IAM bindings: could not check (HTTP {status})")
    found += [
        f"IAM binding {binding['role']} for {member}"
        for binding in policy.get("bindings", [])
        for member in binding.get("members", [])
        # A deleted account's bindings linger as deleted:serviceAccount:...; both count.
        if member.split(":")[-1].split("?")[0].startswith(f"{stack}-")
    ]
    return found
