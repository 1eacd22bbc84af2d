"""The real Pulumi engine and Kubernetes provider, run on this project's program against a local control plane.

The Pulumi CLI and pulumi-resource-kubernetes come from `python3 -m localcluster.build`. The program runs as an
Automation API inline program (the Go module proxy does not serve the Python language host, see
docs/local-cluster.md); its project file is this repository's Pulumi.yaml, so config reaches it as the CLI
hands it over: Pulumi.yaml's defaults, overlaid by the stack file.
"""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import yaml
from pulumi import automation as auto

from localcluster.build import binary_path

REPO = Path(__file__).resolve().parents[1]
PROJECT = "tfserving-gke"
LINE_WIDTH = 160  # engine output lines are cut here: URNs run long, and what matters comes first
# How long the Pulumi CLI may take to cancel an interrupted operation and stop its plugins.
CANCEL_GRACE_SECONDS = 30.0


def engine_env(home: Path) -> dict[str, str]:
    """A Pulumi of its own: state, plugins and settings under `home`; the providers found on PATH, never downloaded."""
    tools = [
        binary_path("pulumi").parent,
        binary_path("pulumi-resource-kubernetes").parent,
        _python_provider_host(home),
    ]
    return {
        "PATH": os.pathsep.join([*map(str, tools), os.environ.get("PATH", "")]),
        # The dynamic provider process imports the program's modules (infra/namespace_guard.py), as it does when
        # the Pulumi CLI starts it in the project's folder; here the project's folder is a copy (make_stack).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        "PULUMI_HOME": str(home / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
        # Its state is thrown away with the control plane: the passphrase protects nothing worth a secret.
        "PULUMI_CONFIG_PASSPHRASE": "local-control-plane",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # No proxy sits between the tools and 127.0.0.1.
        "NO_PROXY": "127.0.0.1,localhost",
        # The provider writes temporary kubeconfig files; they go with the run's folder.
        "TMPDIR": str(_folder(home / "tmp")),
    }


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _python_provider_host(home: Path) -> Path:
    """The folder of `pulumi-resource-pulumi-python`, the host of Python dynamic providers that the Pulumi CLI's
    release ships beside it (not built from Go modules): `python -m pulumi.dynamic` with this virtualenv's Python."""
    folder = home / "python-provider"
    folder.mkdir(parents=True, exist_ok=True)
    host = folder / "pulumi-resource-pulumi-python"
    host.write_text(f'#!/bin/sh\nexec "{sys.executable}" -u -m pulumi.dynamic "$@"\n')
    host.chmod(0o755)
    return folder


def run_repository_program() -> None:
    """The project's own __main__.py, as `pulumi up` would run it."""
    runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")


def make_stack(
    name: str,
    home: Path,
    config: Mapping[str, object],
    program: Callable[[], None] = run_repository_program,
) -> auto.Stack:
    """A stack of the project in a folder of its own: Pulumi.yaml copied as is, Pulumi.<name>.yaml written."""
    work = home / f"project-{name}"
    work.mkdir(parents=True, exist_ok=True)
    (home / "state").mkdir(exist_ok=True)  # the file backend refuses a folder that does not exist
    shutil.copy(REPO / "Pulumi.yaml", work / "Pulumi.yaml")
    write_stack_config(work, name, config)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        pulumi_command=auto.PulumiCommand(root=str(binary_path("pulumi").parent.parent)),
        env_vars=engine_env(home),
    )
    return auto.create_or_select_stack(stack_name=name, project_name=PROJECT, program=program, opts=options)


def write_stack_config(work: Path, name: str, config: Mapping[str, object]) -> None:
    """The stack file a user would write; short keys are the project's own."""
    full = {key if ":" in key else f"{PROJECT}:{key}": value for key, value in config.items()}
    (work / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": full}))


def printer(prefix: str) -> Callable[[str], None]:
    """Engine output, one line each, shortened and prefixed with what runs."""
    return lambda line: print(f"[{prefix}] {line.rstrip()[:LINE_WIDTH]}", flush=True)


@contextmanager
def engine_stopped_if_interrupted(keep: set[int]) -> Iterator[None]:
    """Leaves no engine process behind when the operation inside is interrupted (Ctrl+C, SIGTERM, an error).

    The Pulumi CLI starts each plugin in a process group of its own, and an interrupted Automation API call closes
    the CLI's pipes, so the CLI dies and its plugins live on, orphaned. What the operation starts is therefore
    noted while it runs; on the way out with an exception, a CLI still running is asked to cancel (SIGINT, as a
    terminal's Ctrl+C does), and whatever is left after CANCEL_GRACE_SECONDS is killed. Processes in `keep` (the
    control plane's) are left to their owner.
    """
    seen: dict[int, psutil.Process] = {}
    done = threading.Event()

    def note_started() -> None:
        with suppress(psutil.Error):
            for process in psutil.Process().children(recursive=True):
                if process.pid not in keep:
                    seen.setdefault(process.pid, process)

    def keep_noting() -> None:
        while not done.wait(0.5):
            note_started()

    noter = threading.Thread(target=keep_noting, name="engine-processes", daemon=True)
    noter.start()
    try:
        yield
    except BaseException:
        done.set()
        noter.join()
        note_started()
        threading.excepthook = _quiet_about_closed_output
        left = [process for process in seen.values() if process.is_running()]
        for process in left:
            with suppress(psutil.Error):
                if process.name() == "pulumi":
                    process.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(left, timeout=CANCEL_GRACE_SECONDS)
        for process in alive:
            with suppress(psutil.Error):
                process.kill()
        raise
    finally:
        done.set()


def _quiet_about_closed_output(args: threading.ExceptHookArgs) -> None:
    """After an interrupt, the Automation API's threads that read the CLI's output fail on its closed pipe
    (ValueError: I/O operation on closed file); that says nothing to the user. Anything else is reported."""
    frames = traceback.extract_tb(args.exc_traceback)
    if args.exc_type is ValueError and frames and frames[-1].filename.endswith("automation/_cmd.py"):
        return
    threading.__excepthook__(args)
