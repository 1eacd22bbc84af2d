"""A real deploy: up, predict, a short load with the watcher, a no-change preview, destroy, nothing left.

Runs only with TFSERVING_E2E_PROJECT set (and credentials, the Pulumi CLI and
PULUMI_CONFIG_PASSPHRASE); otherwise it is skipped with a line that says how to run it.
It costs what the stack costs for about 40 minutes (docs/testing.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.lifecycle import (
    HOW_TO_RUN,
    changes,
    leftovers,
    most_replicas_asked,
    settings_from_env,
    stack_settings,
    unique_stack_name,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
SETTINGS = settings_from_env()


def authorized_get():
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = AuthorizedSession(credentials)

    def get(url: str) -> tuple[int, dict]:
        response = session.get(url, timeout=60)
        return response.status_code, response.json() if response.content else {}

    return get


def run(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, check=True)


@pytest.mark.skipif(SETTINGS is None, reason=HOW_TO_RUN)
def test_up_serve_scale_preview_destroy_leaves_nothing(tmp_path):
    from pulumi import automation

    assert SETTINGS is not None
    name = unique_stack_name()
    config = stack_settings(SETTINGS, name)
    stack = automation.create_or_select_stack(stack_name=name, work_dir=str(PROJECT_DIR))
    try:
        stack.set_all_config({key: automation.ConfigValue(value) for key, value in config.items()})
        stack.up(on_output=print)
        zone = stack.outputs()["zone"].value
        run("-m", "loadtest.predict", "--stack", name)
        report = tmp_path / "load"
        run("-m", "loadtest", "--stack", name, "--steps", "3", "--step-time", "60", "--step-users", "10",
            "--watch", "--report-dir", str(report))  # fmt: skip
        assert most_replicas_asked(report / "timeline.csv") >= 2, "the HPA never asked for a second replica"
        assert changes(stack.preview(on_output=print).change_summary) == {}, "a second up would change something"
    finally:
        try:
            stack.destroy(on_output=print)
        finally:
            stack.workspace.remove_stack(name)
    left = leftovers(authorized_get(), SETTINGS.project, zone, name, config["tfserving-gke:bucketName"], name)
    assert left == [], f"destroy left these behind: {left}"
