"""The model copy Job's script, run for real by bash against a stand-in `gcloud` (a test double)."""

import os
import stat
import subprocess

from infra.model_store import COPY_SCRIPT

DESTINATION = "gs://project-bucket/resnet_101"


def run_copy(tmp_path, listing: list[str]) -> subprocess.CompletedProcess[str]:
    listed = tmp_path / "listing.txt"
    listed.write_text("".join(f"{line}\n" for line in listing))
    gcloud = tmp_path / "bin" / "gcloud"
    gcloud.parent.mkdir()
    # rsync succeeds; ls prints the destination's objects, as many as a real model has and more.
    gcloud.write_text(f'#!/bin/bash\nif [ "$2" = ls ]; then cat {listed}; fi\n')
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        "PATH": f"{gcloud.parent}:{os.environ['PATH']}",
        "SOURCE": "gs://spls/gsp777/resnet_101",
        "DESTINATION": DESTINATION,
    }
    return subprocess.run(["/bin/bash", "-c", COPY_SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_a_copy_whose_listing_goes_on_past_the_saved_model_succeeds(tmp_path):
    """`ls | grep -q` under pipefail fails when grep stops reading a long listing (SIGPIPE): not here."""
    shards = [f"{DESTINATION}/1/variables/variables.data-{index:05d}-of-99999" for index in range(20_000)]
    run = run_copy(tmp_path, [f"{DESTINATION}/1/saved_model.pb", *shards])
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "Copied."


def test_a_copy_without_a_saved_model_version_fails_and_says_why(tmp_path):
    run = run_copy(tmp_path, [f"{DESTINATION}/saved_model.pb", f"{DESTINATION}/variables/variables.index"])
    assert run.returncode == 1
    assert "No <version>/saved_model.pb arrived in gs://project-bucket/resnet_101" in run.stderr
