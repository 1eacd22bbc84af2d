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

from infra.settings import project_defaults
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

    def get(url: str, body: dict | None = None) -> tuple[int, dict]:
        response = session.get(url, timeout=60) if body is None else session.post(url, json=body, timeout=60)
        return response.status_code, response.json() if response.content else {}

    return get


def run(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, check=True)


@pytest.mark.skipif(SETTINGS is None, reason=HOW_TO_RUN)
def test_up_serve_scale_preview_destroy_leaves_nothing(tmp_path):
    """Leftovers are looked for however the run ends: a failed up, load or destroy is the run most likely to leak."""
    from pulumi import automation

    assert SETTINGS is not None
    name = unique_stack_name()
    config = stack_settings(SETTINGS, name)
    zone = config.get("tfserving-gke:zone") or str(project_defaults()["zone"])
    stack = automation.create_or_select_stack(stack_name=name, work_dir=str(PROJECT_DIR))
    failures: list[str] = []
    try:
        stack.set_all_config({key: automation.ConfigValue(value) for key, value in config.items()})
        stack.up(on_output=print)
        run("-m", "loadtest.predict", "--stack", name)
        report = tmp_path / "load"
        run(
            "-m",
            "loadtest",
            "--stack",
            name,
            "--steps",
            "3",
            "--step-time",
            "60",
            "--step-users",
            "10",
            "--watch",
            "--report-dir",
            str(report),
        )
        if most_replicas_asked(report / "timeline.csv") < 2:
            failures.append("the HPA never asked for a second replica")
        if changes(stack.preview(on_output=print).change_summary):
            failures.append("a second up would change something")
    except Exception as error:  # the run failed; destroy and the leftover check still run
        failures.append(f"the run failed: {error}")
    destroyed = True
    try:
        stack.destroy(on_output=print)
    except Exception as error:
        destroyed = False
        failures.insert(0, f"destroy failed (the stack {name} is kept for a retry): {error}")
    if destroyed:
        stack.workspace.remove_stack(name)
    left = leftovers(authorized_get(), SETTINGS.project, zone, name, config["tfserving-gke:bucketName"], name)
    if left:
        failures.append(f"destroy left these behind: {left}")
    assert failures == []
