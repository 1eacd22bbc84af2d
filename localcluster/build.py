"""Build the local control plane's tools from Go modules into a cache outside the repository.

    python3 -m localcluster.build            # build what is missing, say what is cached
    python3 -m localcluster.build --list     # where each binary is, and whether it is built

Only the standard library: it runs before any virtualenv exists. Each tool is built in a wrapper module
of its own, made here from versions.py and the target's go.mod; nothing of the target's source is copied.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localcluster.versions import TOOLS, Tool

HERE = Path(__file__).resolve().parent
PROGRESS_EVERY_S = 60.0
# Tails of a failed Go command shown on the console; the whole output stays in the log.
ERROR_LINES = 25


class BuildError(Exception):
    """A step failed; the message names the module and carries Go's own error."""


def cache_root() -> Path:
    """`$LOCALCLUSTER_CACHE`, else the user's cache folder: kept between clones and CI runs."""
    if os.environ.get("LOCALCLUSTER_CACHE"):
        return Path(os.environ["LOCALCLUSTER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tfserving-gke" / "localcluster"


def bin_dir(tool: Tool, root: Path | None = None) -> Path:
    return (root or cache_root()) / tool.key / "bin"


def binary_path(name: str, root: Path | None = None) -> Path:
    """Where the binary `name` (kube-apiserver, pulumi, …) is or will be."""
    for tool in TOOLS:
        if name in tool.binaries:
            return bin_dir(tool, root) / name
    raise KeyError(name)


def is_built(tool: Tool, root: Path | None = None) -> bool:
    # The marker is written after the last binary, so a cancelled build is never taken as done.
    return (bin_dir(tool, root) / ".complete").is_file()


def _fmt(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _say(message: str) -> None:
    print(f"[localcluster build] {message}", flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Static binaries; no toolchain download (a module that needs a newer Go says so instead); the wrapper's
    # go.mod is rewritten as needed.
    env.update({"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"})
    return env


def _run(args: list[str], cwd: Path, log: Path, what: str, progress: str = "") -> str:
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
                last = lines[-1].strip() if lines else "resolving modules"
                _say(f"{progress}: {_fmt(time.monotonic() - started)}, {len(lines)} packages so far, at {last}")

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
    out = _run(
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


def build_tool(tool: Tool, root: Path) -> None:
    target = f"{tool.module}@{tool.version}"
    tool_dir = root / tool.key
    work, out = tool_dir / "module", bin_dir(tool, root)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    log = tool_dir / "build.log"
    log.write_text(f"build of {target}\n")
    _say(f"{tool.name}: preparing a wrapper module for {target} (log: {log})")

    started = time.monotonic()
    _run(["go", "mod", "init", f"localcluster.build/{tool.name}"], work, log, "go mod init")
    upstream = _module_dir(tool, work, log)
    gomod = json.loads(_run(["go", "mod", "edit", "-json", str(upstream / "go.mod")], work, log, "reading go.mod"))
    edits = derived_edits(gomod, tool)
    if edits:
        _run(["go", "mod", "edit", *edits], work, log, f"applying {len(edits)} replace/godebug lines of {target}")
    if tool.own_main:
        for source in (HERE / tool.own_main).glob("*.go"):
            shutil.copy(source, work / source.name)
        for embedded in (upstream / tool.embed_from).glob("*.json"):
            shutil.copy(embedded, work / embedded.name)
        _run(["go", "get", target], work, log, f"resolving {target}")
        _run(["go", "mod", "tidy"], work, log, f"resolving the dependencies of {target}")
        packages = {name: "." for name in tool.binaries}
    else:
        packages = {name: _package(tool, sub) for name, sub in tool.binaries.items()}
        _run(
            ["go", "get", *(f"{pkg}@{tool.version}" for pkg in packages.values())],
            work,
            log,
            f"resolving {target}",
        )
    _say(f"{tool.name}: modules resolved in {_fmt(time.monotonic() - started)}")

    ldflags = " ".join(["-s", "-w", *(f"-X {var}={value}" for var, value in tool.stamps.items())])
    for name, pkg in packages.items():
        began = time.monotonic()
        _say(f"{name}: compiling {pkg} (a cold build prints progress every minute)")
        _run(
            ["go", "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(out / name), pkg],
            work,
            log,
            f"building {name} from {target}",
            progress=name,
        )
        _say(f"{name}: built in {_fmt(time.monotonic() - began)}")
    (out / ".complete").write_text(f"{target}\n")


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build at a time per cache: a second caller waits, then finds the tools built."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"another build holds {root / '.lock'}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build(names: list[str], root: Path) -> None:
    if shutil.which("go") is None:
        raise BuildError(
            "go: not found on PATH. Install Go 1.26 or newer (https://go.dev/doc/install), then run again."
        )
    chosen = [tool for tool in TOOLS if not names or tool.name in names]
    began = time.monotonic()
    with _locked(root):
        for tool in chosen:
            if is_built(tool, root):
                _say(f"{tool.name} {tool.version}: cached in {bin_dir(tool, root)}")
                continue
            build_tool(tool, root)
    _say(f"all built in {_fmt(time.monotonic() - began)}; binaries under {root}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m localcluster.build",
        description="Build the Pulumi CLI, the Kubernetes provider, etcd, the Kubernetes control plane and kwok "
        "from Go modules at the versions in localcluster/versions.py, into a cache outside the repository. "
        "Builds only what is missing: a cold build takes about an hour on 2 cores, a warm one seconds.",
    )
    parser.add_argument("tools", nargs="*", metavar="TOOL", help=f"only these: {', '.join(t.name for t in TOOLS)}")
    parser.add_argument("--list", action="store_true", help="print each binary's path and whether it is built")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tools) - {t.name for t in TOOLS})
    if unknown:
        parser.error(f"unknown tool {', '.join(unknown)}; choose from {', '.join(t.name for t in TOOLS)}")
    root = cache_root()
    if args.list:
        for tool in TOOLS:
            state = "built" if is_built(tool, root) else "missing"
            for name in tool.binaries:
                print(f"{name}\t{tool.module}@{tool.version}\t{state}\t{bin_dir(tool, root) / name}")
        return 0
    try:
        build(args.tools, root)
    except BuildError as err:
        print(f"[localcluster build] error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[localcluster build] cancelled; what was finished stays cached", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
