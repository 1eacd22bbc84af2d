"""`python -m localcluster`: run a local control plane shaped like the stack's cluster until Ctrl+C.

python3 -m localcluster.build        # once: build the tools (its --help says how long)
.venv/bin/python -m localcluster     # start; prints the kubeconfig to point the stack at
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from kubernetes import config
from kubernetes.client.exceptions import ApiException

from localcluster.controlplane import ControlPlane
from localcluster.nodes import create_nodes, stack_pools
from localcluster.processes import ControlPlaneError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcluster",
        description="Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1, "
        "with simulated nodes shaped like the stack's pools, and keep them running until Ctrl+C. "
        "Pods are scheduled and reported Ready, but no container runs (docs/local-cluster.md).",
    )
    parser.add_argument("--dir", type=Path, help="folder for the data, logs and kubeconfig (default: a new temp one)")
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, metavar="SECONDS", help="how long each start may take"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="localcluster-"))
    stop = threading.Event()
    # SIGTERM and Ctrl+C both end the wait below, then every component is stopped by its PID.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with ControlPlane(root, start_timeout_s=args.start_timeout) as plane:
            nodes = create_nodes(config.new_client_from_config(str(plane.kubeconfig)), stack_pools())
            print(f"Local control plane at {plane.server}: {len(nodes)} simulated nodes ({', '.join(nodes)}).")
            print(f"Logs: {plane.logs}")
            print(f"  export KUBECONFIG={plane.kubeconfig}")
            print(f"  pulumi config set kubeconfig {plane.kubeconfig} --stack existing")
            print("Ctrl+C stops it.", flush=True)
            while not stop.wait(1.0):
                plane.check_alive()
    except (ControlPlaneError, TimeoutError, ApiException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
