"""The end-to-end test's helpers, checked without a cloud."""

import datetime

from pulumi.automation import OpType

from tests.e2e.lifecycle import (
    E2ESettings,
    changes,
    leftovers,
    most_replicas_asked,
    settings_from_env,
    stack_settings,
    unique_stack_name,
)
from tests.infra.harness import run_program, stack_config


def test_without_a_project_the_test_is_not_run():
    assert settings_from_env({}) is None
    assert settings_from_env({"TFSERVING_E2E_PROJECT": "  "}) is None
    assert settings_from_env({"TFSERVING_E2E_PROJECT": "p", "TFSERVING_E2E_ZONE": "europe-west4-a"}) == E2ESettings(
        "p", "europe-west4-a"
    )


def test_the_stack_name_is_unique_and_a_valid_cluster_name():
    name = unique_stack_name(datetime.datetime(2026, 11, 28, 9, 5, tzinfo=datetime.UTC), "ab12")
    assert name == "e2e-11280905-ab12"
    assert unique_stack_name() != unique_stack_name()


def test_the_test_stacks_settings_pass_the_programs_own_validation():
    stack = unique_stack_name()
    config = {**stack_config("dev"), **stack_settings(E2ESettings("lab-project-123", None), stack)}
    deployment = run_program(config)
    assert deployment.outputs["clusterName"] == stack
    assert deployment.outputs["namespace"] == stack


def test_a_preview_with_only_same_has_no_changes():
    assert changes({OpType.SAME: 42}) == {}
    assert changes({OpType.SAME: 40, OpType.UPDATE: 1, OpType.REPLACE: 0}) == {"update": 1}


def test_the_replicas_asked_come_from_the_watchers_timeline(tmp_path):
    timeline = tmp_path / "timeline.csv"
    timeline.write_text("time,hpa_desired_replicas\n1.0,1\n2.0,2\n3.0,1\n")
    assert most_replicas_asked(timeline) == 2
    timeline.write_text("time,hpa_desired_replicas\n")
    assert most_replicas_asked(timeline) == 0


def test_leftovers_name_what_google_still_holds():
    stack, project, zone = "e2e-1", "p", "us-central1-f"
    ours = '{"kubernetes.io/service-name":"e2e-1/image-classifier"}'
    other = '{"kubernetes.io/service-name":"other/web"}'
    repository = "projects/p/locations/us-central1/repositories/e2e-1-docker-hub"
    bindings = [
        {"role": "roles/artifactregistry.reader", "members": ["deleted:serviceAccount:e2e-1-nodes@p.iam?uid=1"]},
        {"role": "roles/owner", "members": ["user:me@example.com"]},
    ]
    answers = {
        "clusters/e2e-1": (200, {}),
        "/b/p-e2e-1": (404, {}),
        "forwardingRules": (
            200,
            {"items": [{"name": "a1", "description": ours}, {"name": "a2", "description": other}]},
        ),
        "addresses": (200, {"items": [{"name": "a1", "description": ours}]}),
        "firewalls": (
            200,
            {"items": [{"name": "k8s-fw-a1", "description": ours}, {"name": "gke-e2e-1-abc-all"}, {"name": "default"}]},
        ),
        "httpHealthChecks": (200, {"items": [{"name": "k8s-123-node", "description": ours}]}),
        "regions/us-central1/healthChecks": (200, {"items": [{"name": "k8s2-abc", "description": ours}]}),
        "healthChecks": (200, {}),
        "backendServices": (200, {"items": [{"name": "k8s2-abc", "description": ours}]}),
        "networkEndpointGroups": (200, {"items": [{"name": "k8s1-e2e-1-neg"}, {"name": "other-neg"}]}),
        "subnetworks": (200, {"items": [{"name": "e2e-1-nodes"}, {"name": "default"}]}),
        "networks": (200, {"items": [{"name": "e2e-1-net"}]}),
        "repositories": (200, {"repositories": [{"name": repository}]}),
        "serviceAccounts": (200, {"accounts": [{"email": "e2e-1-nodes@p.iam"}, {"email": "ci@p.iam"}]}),
        ":getIamPolicy": (200, {"bindings": bindings}),
    }
    asked: list[tuple[str, dict | None]] = []

    def get(url: str, body: dict | None = None) -> tuple[int, dict]:
        asked.append((url, body))
        return next(answer for fragment, answer in answers.items() if fragment in url)

    assert leftovers(get, project, zone, stack, "p-e2e-1", "e2e-1") == [
        "cluster e2e-1 (HTTP 200)",
        "forwarding rule a1",
        "address a1",
        "firewall rule k8s-fw-a1",
        "firewall rule gke-e2e-1-abc-all",
        "health check k8s-123-node",
        "health check k8s2-abc",
        "backend service k8s2-abc",
        "network endpoint group k8s1-e2e-1-neg",
        "network e2e-1-net",
        "subnetwork e2e-1-nodes",
        "repository e2e-1-docker-hub",
        "service account e2e-1-nodes@p.iam",
        "IAM binding roles/artifactregistry.reader for deleted:serviceAccount:e2e-1-nodes@p.iam?uid=1",
    ]
    assert ("https://cloudresourcemanager.googleapis.com/v1/projects/p:getIamPolicy", {}) in asked
    for key in answers:
        if key not in ("/b/p-e2e-1",):
            answers[key] = (404, {}) if key == "clusters/e2e-1" else (200, {})
    assert leftovers(get, project, zone, stack, "p-e2e-1", "e2e-1") == []


def test_every_page_of_a_list_is_read_and_a_list_it_cannot_read_is_said():
    pages = {
        "forwardingRules?pageToken=2": (
            200,
            {"items": [{"name": "late", "description": '{"kubernetes.io/service-name":"e2e-1/x"}'}]},
        ),
        "forwardingRules": (200, {"items": [], "nextPageToken": "2"}),
        "firewalls": (403, {"error": {"message": "forbidden"}}),
        "clusters/": (404, {}),
        "/b/": (404, {}),
        ":getIamPolicy": (503, {}),
    }

    def get(url: str, body: dict | None = None) -> tuple[int, dict]:
        return next((answer for fragment, answer in pages.items() if fragment in url), (200, {}))

    found = leftovers(get, "p", "us-central1-f", "e2e-1", "p-e2e-1", "e2e-1")
    assert found == [
        "forwarding rule late",
        "firewall rules: could not check (HTTP 403)",
        "IAM bindings: could not check (HTTP 503)",
    ]
