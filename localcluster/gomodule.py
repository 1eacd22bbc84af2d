"""One tool's wrapper module: made from versions.py and the target's own go.mod, and the go commands run in it,
each logged, with progress on long ones and Go's own last lines when one fails. Only the standard library: it runs
before any virtualenv exists. Nothing of the target's source is copied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from localcluster.versions import Tool

HERE = Path(__file__).resolve().parent
PROGRESS_EVERY_S = 60.0
# Tails of a failed Go command shown on the console; the whole output stays in the log.
ERROR_LINES = 25


class BuildError(Exception):
    """A step failed; the message names the module and carries Go's own error."""


def fmt_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def say(message: str) -> None:
    print(f"[localcluster build] {message}", flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Static binaries; no toolchain download (a module that needs a newer Go says so instead); the wrapper's
    # go.mod is rewritten as needed.
    env.update({"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"})
    return env


def run_go(args: list[str], cwd: Path, log: Path, what: str, progress: str = "") -> str:
    """Run one go command, its output appended to `log`; a failure raises with Go's last lines.

    With `progress`, a line every minute says how long it has run and how many packages it compiled
    (go build -v prints each package it compiles).
    """
    started = time.monotonic()
    lines: list[str] = []
    with log.open("a") as sink:
        sink.write(f"\n$ {' '.join(args)}\n")
        sink.flush()
        proc = subprocess.Popen(
            args, cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(PROGRESS_EVERY_S):
                ran = fmt_seconds(time.monotonic() - started)
                if lines:
                    say(f"{progress}: {ran}, {len(lines)} packages so far, at {lines[-1].strip()}")
                else:
                    say(f"{progress}: {ran}, still working (it prints nothing until done)")

        if progress:
            threading.Thread(target=heartbeat, daemon=True).start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                lines.append(line)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            done.set()
    if code != 0:
        tail = "".join(lines[-ERROR_LINES:]).rstrip()
        raise BuildError(f"{what} failed (exit {code}); full log: {log}\n{tail}")
    return "".join(lines)


def _module_dir(tool: Tool, work: Path, log: Path) -> Path:
    out = run_go(
        ["go", "mod", "download", "-json", f"{tool.module}@{tool.version}"],
        work,
        log,
        f"downloading {tool.module}@{tool.version}",
    )
    info = json.loads(out[out.index("{") :])
    if info.get("Error"):
        raise BuildError(f"downloading {tool.module}@{tool.version} failed: {info['Error']}")
    return Path(info["Dir"])


def derived_edits(gomod: dict, tool: Tool) -> list[str]:
    """`go mod edit` flags the wrapper needs, read off the target's own go.mod (`go mod edit -json`).

    - A replace to another module (a fork) applies to the build too: copied.
    - A replace to a local folder matters only where the target requires that module at a version that was
      never published (k8s.io/kubernetes requires its staging modules at v0.0.0): that module is taken at
      the release published from the same tree (tool.sibling_version). Local replaces of modules required
      at real versions are the upstream's development set-up, and dependencies' replaces never apply.
    - godebug lines: the binaries keep the runtime behaviour upstream builds them with.
    """
    required = {req["Path"]: req["Version"] for req in gomod.get("Require") or []}
    edits: list[str] = []
    for rep in gomod.get("Replace") or []:
        old, new = rep["Old"]["Path"], rep["New"]
        if new.get("Version"):
            edits.append(f"-replace={old}={new['Path']}@{new['Version']}")
        elif required.get(old) == "v0.0.0":
            if not tool.sibling_version:
                raise BuildError(f"{tool.module} requires {old} at v0.0.0 with a local replace: set sibling_version")
            edits.append(f"-replace={old}={old}@{tool.sibling_version}")
    for debug in gomod.get("Godebug") or []:
        edits.append(f"-godebug={debug['Key']}={debug['Value']}")
    return edits


def _package(tool: Tool, subdir: str) -> str:
    return f"{tool.module}/{subdir}" if subdir else tool.module


def prepare_module(tool: Tool, root: Path) -> dict[str, str]:
    """A fresh wrapper module for the tool, its dependencies resolved; the package to build for each binary."""
    target = f"{tool.module}@{tool.version}"
    tool_dir = root / tool.key
    work = tool_dir / "module"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = tool_dir / "build.log"
    log.write_text(f"build of {target}\n")
    say(f"{tool.name}: preparing a wrapper module for {target} (log: {log})")

    started = time.monotonic()
    run_go(["go", "mod", "init", f"localcluster.build/{tool.name}"], work, log, "go mod init")
    upstream = _module_dir(tool, work, log)
    gomod = json.loads(run_go(["go", "mod", "edit", "-json", str(upstream / "go.mod")], work, log, "reading go.mod"))
    edits = derived_edits(gomod, tool)
    if edits:
        run_go(["go", "mod", "edit", *edits], work, log, f"applying {len(edits)} replace/godebug lines of {target}")
    if tool.own_main:
        copy_own_main(tool, work)
        for embedded in (upstream / tool.embed_from).glob("*.json"):
            shutil.copy(embedded, work / embedded.name)
        run_go(["go", "get", target], work, log, f"resolving {target}")
        run_go(["go", "mod", "tidy"], work, log, f"resolving the dependencies of {target}")
        packages = {name: "." for name in tool.binaries}
    else:
        packages = {name: _package(tool, sub) for name, sub in tool.binaries.items()}
        run_go(
            ["go", "get", *(f"{pkg}@{tool.version}" for pkg in packages.values())],
            work,
            log,
            f"resolving {target}",
        )
    say(f"{tool.name}: modules resolved in {fmt_seconds(time.monotonic() - started)}")
    return packages


def copy_own_main(tool: Tool, work: Path) -> None:
    for source in (HERE / tool.own_main).glob("*.go"):
        shutil.copy(source, work / source.name)
