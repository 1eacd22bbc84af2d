"""Default names derived from any valid stack name and project ID are names Google accepts."""

import pytest

from infra.names import default_bucket_name, project_name
from infra.validators import bucket_name_problem
from tests.infra.harness import run_program, stack_config


@pytest.mark.parametrize(
    ("project", "stack", "expected"),
    [
        ("lab-project-123", "dev", "lab-project-123-bucket"),
        ("lab-project-123", "prod", "lab-project-123-prod-bucket"),
        ("lab-project-123", "Prod-EU", "lab-project-123-prod-eu-bucket"),
        ("lab-project-123", "team_a.staging", "lab-project-123-team-a-staging-bucket"),
        ("example.com:my-proj", "dev", "my-proj-bucket"),
        ("example.com:my-proj", "Prod", "my-proj-prod-bucket"),
    ],
)
def test_the_default_bucket_is_the_stacks_and_projects_in_lowercase(project, stack, expected):
    assert default_bucket_name(project, stack) == expected
    assert bucket_name_problem(expected) is None


@pytest.mark.parametrize("stack", ["A" * 63, "x-" + "_" * 60, "Q." * 30])
def test_a_long_or_odd_stack_name_still_gives_a_bucket_name_google_accepts(stack):
    name = default_bucket_name("a-thirty-character-project-id1", stack)
    assert bucket_name_problem(name) is None, name
    assert name.startswith("a-thirty-character-project-id1-") and name.endswith("-bucket")


def test_a_stack_named_with_capitals_deploys_with_a_valid_bucket():
    deployment = run_program(stack_config("prod"), stack="Prod-EU")
    bucket = deployment.one("gcp:storage/bucket:Bucket").inputs["name"]
    assert bucket == "lab-project-123-prod-eu-bucket"
    labels = deployment.named("kubernetes:apps/v1:Deployment", "serving-deployment").inputs["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "Prod-EU", "a label value keeps the stack's name as it is"


def test_a_domain_scoped_project_is_accepted_and_named_without_its_domain():
    project = "example.com:my-proj"
    deployment = run_program(stack_config("dev", settings={"gcp:project": project}))
    assert project_name(project) == "my-proj"
    assert deployment.one("gcp:storage/bucket:Bucket").inputs["name"] == "my-proj-bucket"
    cluster = deployment.one("gcp:container/cluster:Cluster").inputs
    # Google names the Workload Identity pool after the whole project ID ("PROJECT_ID.svc.id.goog").
    assert cluster["workloadIdentityConfig"]["workloadPool"] == f"{project}.svc.id.goog"
    assert {api.inputs["project"] for api in deployment.of_type("gcp:projects/service:Service")} == {project}
