"""The build's derivations and its refusals, without Go doing any work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster.gomodule import BuildError, derived_edits
from localcluster.versions import TOOLS, Tool

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = next(tool for tool in TOOLS if tool.name == "kubernetes")


def gomod(requires: dict[str, str], replaces: dict[str, str | tuple[str, str]], godebug: dict | None = None) -> dict:
    """What `go mod edit -json` prints for such a go.mod."""

    def target(new: str | tuple[str, str]) -> dict:
        return {"Path": new[0], "Version": new[1]} if isinstance(new, tuple) else {"Path": new}

    return {
        "Require": [{"Path": path, "Version": version} for path, version in requires.items()],
        "Replace": [{"Old": {"Path": old}, "New": target(new)} for old, new in replaces.items()],
        "Godebug": [{"Key": key, "Value": value} for key, value in (godebug or {}).items()],
    }


def test_unpublished_siblings_take_the_release_of_the_same_tree() -> None:
    edits = derived_edits(
        gomod(
            {"k8s.io/api": "v0.0.0", "k8s.io/client-go": "v0.0.0", "github.com/x/y": "v1.2.3"},
            {
                "k8s.io/api": "./staging/src/k8s.io/api",
                "k8s.io/client-go": "./staging/src/k8s.io/client-go",
                "k8s.io/sample-cli-plugin": "./staging/src/k8s.io/sample-cli-plugin",
            },
            {"default": "go1.26"},
        ),
        KUBERNETES,
    )
    assert edits == [
        "-replace=k8s.io/api=k8s.io/api@v0.36.3",
        "-replace=k8s.io/client-go=k8s.io/client-go@v0.36.3",
        "-godebug=default=go1.26",
    ]  # a staging module the target does not require is left alone (the proxy may not even serve it)


def test_forks_are_kept_and_development_replaces_of_published_modules_dropped() -> None:
    pulumi = next(tool for tool in TOOLS if tool.name == "pulumi")
    edits = derived_edits(
        gomod(
            {"github.com/pulumi/pulumi/sdk/v3": "v3.274.1"},
            {
                "github.com/pulumi/pulumi/sdk/v3": "../sdk",
                "github.com/atotto/clipboard": ("github.com/tgummerer/clipboard", "v0.0.0-20241001131231-d02d263e614e"),
            },
        ),
        pulumi,
    )
    fork = "github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
    assert edits == [f"-replace=github.com/atotto/clipboard={fork}"]


def test_an_unpublished_sibling_without_a_release_version_is_refused() -> None:
    tool = Tool(name="x", module="example.com/x", version="v1.0.0", binaries={"x": ""})
    with pytest.raises(BuildError, match=re.escape("requires example.com/y at v0.0.0 with a local replace")):
        derived_edits(gomod({"example.com/y": "v0.0.0"}, {"example.com/y": "../y"}), tool)


def test_kubernetes_binaries_are_stamped_with_their_version() -> None:
    assert KUBERNETES.stamps["k8s.io/component-base/version.gitVersion"] == KUBERNETES.version
    assert KUBERNETES.stamps["k8s.io/component-base/version.gitMinor"] == KUBERNETES.version.split(".")[1]


def run_build(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster.build", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_go_the_build_says_so_in_one_line(tmp_path: Path) -> None:
    run = run_build(env={"PATH": str(tmp_path), "LOCALCLUSTER_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)})
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "[localcluster build] error: go: not found on PATH. Install Go 1.26 or newer "
        "(https://go.dev/doc/install), then run again."
    ]


def test_an_unknown_tool_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    run = run_build("kubelet", env={**os.environ, "LOCALCLUSTER_CACHE": str(tmp_path)})
    assert run.returncode == 2
    assert f"unknown tool kubelet; choose from {', '.join(tool.name for tool in TOOLS)}" in run.stderr


def test_list_names_every_binary_and_where_it_goes(tmp_path: Path) -> None:
    run = run_build("--list", env={**os.environ, "LOCALCLUSTER_CACHE": str(tmp_path)})
    assert run.returncode == 0
    names = [line.split("\t")[0] for line in run.stdout.splitlines()]
    assert names == [name for tool in TOOLS for name in tool.binaries]
    assert all(line.split("\t")[2] == "missing" for line in run.stdout.splitlines())
