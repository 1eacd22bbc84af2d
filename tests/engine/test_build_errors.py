"""A build step that fails names the module and quotes Go's own error (Go is on the engine tests' machines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster.build import BuildError, build_tool, is_built
from localcluster.versions import Tool


def test_a_module_go_cannot_fetch_is_named_with_gos_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No network: the go command refuses at once, as it would for a module the proxy does not serve.
    monkeypatch.setenv("GOPROXY", "off")
    tool = Tool(name="absent", module="example.com/absent", version="v0.0.1", binaries={"absent": ""})
    with pytest.raises(BuildError) as failed:
        build_tool(tool, tmp_path)
    message = str(failed.value)
    assert message.startswith("downloading example.com/absent@v0.0.1 failed")
    assert "module lookup disabled by GOPROXY=off" in message
    assert f"full log: {tmp_path / 'absent-v0.0.1' / 'build.log'}" in message
    assert not is_built(tool, tmp_path)
