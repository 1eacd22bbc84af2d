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
    """What the leftover checks need of an authorized HTTP session: a GET that returns status and JSON."""

    def __call__(self, url: str) -> tuple[int, dict]: ...


def leftovers(get: JsonGetter, project: str, zone: str, stack: str, bucket: str, namespace: str) -> list[str]:
    """What of the stack Google still holds after destroy: cluster, bucket, load-balancer rules, service accounts."""
    found: list[str] = []
    status, _ = get(f"https://container.googleapis.com/v1/projects/{project}/locations/{zone}/clusters/{stack}")
    if status != 404:
        found.append(f"cluster {stack} (HTTP {status})")
    status, _ = get(f"https://storage.googleapis.com/storage/v1/b/{bucket}")
    if status != 404:
        found.append(f"bucket {bucket} (HTTP {status})")
    region = zone.rsplit("-", 1)[0]
    _, rules = get(f"https://compute.googleapis.com/compute/v1/projects/{project}/regions/{region}/forwardingRules")
    service = f"{namespace}/"
    found += [
        f"forwarding rule {rule['name']}"
        for rule in rules.get("items", [])
        if f'"kubernetes.io/service-name":"{service}' in rule.get("description", "").replace(" ", "")
    ]
    _, accounts = get(f"https://iam.googleapis.com/v1/projects/{project}/serviceAccounts?pageSize=100")
    found += [
        f"service account {account['email']}"
        for account in accounts.get("accounts", [])
        if account["email"].startswith(f"{stack}-")
    ]
    return found
