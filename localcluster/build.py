"""Build the local control plane's tools from Go modules into a cache outside the repository.

    python3 -m localcluster.build            # build what is missing, say what is cached
    python3 -m localcluster.build --list     # where each binary is, and whether it is built
    python3 -m localcluster.build --vet      # go vet over this repository's own Go code

Only the standard library: it runs before any virtualenv exists. Each tool is built in a wrapper module of its
own (gomodule.py); a finished tool is marked complete, so a cancelled build resumes and a built one is skipped.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localcluster.gomodule import BuildError, copy_own_main, fmt_seconds, prepare_module, run_go, say
from localcluster.versions import COLD_BUILD_MINUTES, TOOLS, Tool


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


def build_tool(tool: Tool, root: Path) -> None:
    packages = prepare_module(tool, root)
    work, out, log = root / tool.key / "module", bin_dir(tool, root), root / tool.key / "build.log"
    out.mkdir(parents=True, exist_ok=True)
    target = f"{tool.module}@{tool.version}"
    ldflags = " ".join(["-s", "-w", *(f"-X {var}={value}" for var, value in tool.stamps.items())])
    for name, pkg in packages.items():
        began = time.monotonic()
        say(f"{name}: compiling {pkg} (a cold build prints progress every minute)")
        run_go(
            ["go", "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(out / name), pkg],
            work,
            log,
            f"building {name} from {target}",
            progress=name,
        )
        say(f"{name}: built in {fmt_seconds(time.monotonic() - began)}")
    (out / ".complete").write_text(f"{target}\n")


def vet_own_code(root: Path) -> None:
    """`go vet` over the Go code this repository holds (an own main), in its tool's wrapper module: the module a
    build left, else one prepared now. The repository's current files are vetted, not the build's copies."""
    _need_go()
    for tool in (tool for tool in TOOLS if tool.own_main):
        work, log = root / tool.key / "module", root / tool.key / "vet.log"
        with _locked(root):
            if not (work / "go.mod").is_file():
                prepare_module(tool, root)
            copy_own_main(tool, work)
            log.write_text(f"go vet of localcluster/{tool.own_main}\n")
            run_go(["go", "vet", "."], work, log, f"go vet of localcluster/{tool.own_main}", progress="go vet")
        say(f"localcluster/{tool.own_main}: go vet found nothing")


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build at a time per cache: a second caller waits, then finds the tools built."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another build holds {root / '.lock'}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _need_go() -> None:
    if shutil.which("go") is None:
        raise BuildError(
            "go: not found on PATH. Install Go 1.26 or newer (https://go.dev/doc/install), then run again."
        )


def build(names: list[str], root: Path) -> None:
    _need_go()
    chosen = [tool for tool in TOOLS if not names or tool.name in names]
    began = time.monotonic()
    with _locked(root):
        for tool in chosen:
            if is_built(tool, root):
                say(f"{tool.name} {tool.version}: cached in {bin_dir(tool, root)}")
                continue
            build_tool(tool, root)
    say(f"all built in {fmt_seconds(time.monotonic() - began)}; binaries under {root}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m localcluster.build",
        description="Build the Pulumi CLI, the Kubernetes provider, etcd, the Kubernetes control plane and kwok "
        "from Go modules at the versions in localcluster/versions.py, into a cache outside the repository. "
        f"Builds only what is missing: a cold build takes about {COLD_BUILD_MINUTES} minutes on 2 cores, a warm one "
        "seconds.",
    )
    parser.add_argument("tools", nargs="*", metavar="TOOL", help=f"only these: {', '.join(t.name for t in TOOLS)}")
    parser.add_argument("--list", action="store_true", help="print each binary's path and whether it is built")
    parser.add_argument(
        "--vet", action="store_true", help="run `go vet` over the Go code of this repository (tests/run.sh does)"
    )
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
        if args.vet:
            vet_own_code(root)
        else:
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
