"""`python -m localcluster`: a local control plane shaped like the stack's cluster, until Ctrl+C.

.venv/bin/python -m localcluster up            # the stack on it, deployed by the real engine; no cloud, no Pulumi CLI
.venv/bin/python -m localcluster               # the control plane alone, for your own Pulumi CLI
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from kubernetes import config
from kubernetes.client.exceptions import ApiException

from loadtest.target import stack_settings
from localcluster.build import BuildError
from localcluster.controlplane import ControlPlane
from localcluster.engine import REPO
from localcluster.first_run import EngineError, FirstRun, run
from localcluster.nodes import create_nodes, stack_pools
from localcluster.processes import ControlPlaneError
from localcluster.stack_settings import config_hints, parse_change
from localcluster.versions import COLD_BUILD_MINUTES


def add_common_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The options of both forms; after `up`, without defaults of their own, so as not to undo those given before."""
    parser.add_argument(
        "--dir",
        type=Path,
        default=None if defaults else argparse.SUPPRESS,
        help="folder for the data, logs and kubeconfig, kept (default: a temporary one, removed)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0 if defaults else argparse.SUPPRESS,
        metavar="SECONDS",
        help="how long each start may take (default: 120)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcluster",
        description="Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1, "
        "with simulated nodes shaped like the stack's pools, and keep them running until Ctrl+C. "
        "Pods are scheduled and reported Ready, but no container runs (docs/local-cluster.md).",
    )
    add_common_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="{up}")
    up = commands.add_parser(
        "up",
        help="also deploy a stack on it through the real engine, and destroy it on Ctrl+C",
        description=f"Build the tools if missing (about {COLD_BUILD_MINUTES} minutes the first time, seconds after), "
        "start the control plane, deploy the stack's Kubernetes half through the real Pulumi engine and "
        "Kubernetes provider, print its outputs and the commands that work against it, and wait. Ctrl+C destroys "
        "the stack and stops every process. Needs no cloud account and no Pulumi CLI.",
    )
    add_common_options(up, defaults=False)
    up.add_argument("--stack", default="existing", help="stack whose settings to deploy (default: existing)")
    up.add_argument(
        "settings", nargs="*", metavar="SETTING=VALUE", help="a setting of Pulumi.yaml changed, e.g. spareReplicas=1"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dir is not None and args.dir.is_dir() and any(args.dir.iterdir()):
        # A control plane's data there would be started again, with nodes and objects of a run that has ended.
        parser.error(f"--dir {args.dir} is not empty: give a new or empty folder for this run's data and logs")
    try:
        if args.command == "up":
            return run(first_run_plan(parser, args), say)
        return control_plane_only(args)
    except (BuildError, ControlPlaneError, EngineError, TimeoutError, ApiException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: every process it started was stopped.", file=sys.stderr)
        return 130


def first_run_plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> FirstRun:
    if not (REPO / f"Pulumi.{args.stack}.yaml").is_file():
        parser.error(f"--stack {args.stack}: there is no Pulumi.{args.stack}.yaml in {REPO}")
    values = stack_settings(args.stack)
    for text in args.settings:
        try:
            key, value = parse_change(text, values)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
        values[key] = value
    return FirstRun(args.stack, values, args.dir, args.start_timeout)


def control_plane_only(args: argparse.Namespace) -> int:
    root = args.dir or Path(tempfile.mkdtemp(prefix="localcluster-"))
    stop = threading.Event()
    # SIGTERM and Ctrl+C both end the wait below, then every component is stopped by its PID.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with ControlPlane(root, start_timeout_s=args.start_timeout) as plane:
            nodes = create_nodes(config.new_client_from_config(str(plane.kubeconfig)), stack_pools())
            print(f"Local control plane at {plane.server}: {len(nodes)} simulated nodes ({', '.join(nodes)}).")
            print(f"Logs: {plane.logs}" + ("" if args.dir else " (removed when it stops; keep them with --dir)"))
            print(f"  export KUBECONFIG={plane.kubeconfig}")
            for hint in config_hints(plane.kubeconfig, "existing"):
                print(f"  {hint}")
            print("Ctrl+C stops it.", flush=True)
            while not stop.wait(1.0):
                plane.check_alive()
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print("Stopped.")
    return 0


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
