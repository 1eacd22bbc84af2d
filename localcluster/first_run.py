"""`python -m localcluster up`: the stack running on a local control plane, with no cloud account and no Pulumi CLI.

It builds what is missing, starts the control plane with nodes shaped like the stack's pools, deploys the stack
through the real engine (localcluster/engine.py), prints its outputs and the commands that work against it, and
waits. Ctrl+C (or SIGTERM) destroys the stack, checks that its objects are gone, and stops every process.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from pulumi import automation as auto

from infra.labels import INSTANCE_LABEL
from localcluster.build import build, cache_root
from localcluster.controlplane import ControlPlane
from localcluster.engine import engine_stopped_if_interrupted, make_stack
from localcluster.nodes import create_nodes, system_and_serving_pools
from localcluster.stack_settings import kubernetes_config
from localcluster.versions import COLD_BUILD_MINUTES

# The line a script waits for before it uses the stack (the engine test does).
READY = "ready:"
ENGINE_LOG = "engine.log"
# Lines of the engine's output shown when a deploy or destroy fails.
FAILURE_TAIL = 25
# How long the stack's objects may take to go after `destroy` returns (the namespace controller empties it first).
GONE_WITHIN_SECONDS = 120.0


@dataclass(frozen=True)
class FirstRun:
    stack: str
    values: dict[str, object]
    folder: Path | None
    start_timeout: float


def run(plan: FirstRun, say: Callable[[str], None]) -> int:
    """Everything `up` does; 0 once the stack was destroyed and every process stopped. Until the stack is up, Ctrl+C
    and SIGTERM interrupt (KeyboardInterrupt; every process started is stopped); from then on they start the
    destroy."""
    signal.signal(signal.SIGTERM, _interrupt)
    say(f"[1/4] building the tools, only what is missing (the first build takes about {COLD_BUILD_MINUTES} minutes)")
    build([], cache_root())
    root = plan.folder or Path(tempfile.mkdtemp(prefix="localcluster-up-"))
    try:
        return _on_control_plane(plan, root, say)
    finally:
        if plan.folder is None:
            shutil.rmtree(root, ignore_errors=True)


def _on_control_plane(plan: FirstRun, root: Path, say: Callable[[str], None]) -> int:
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / ENGINE_LOG
    say(f"[2/4] starting the control plane in {root}" + ("" if plan.folder else " (removed when it stops)"))
    with ControlPlane(root / "control-plane", start_timeout_s=plan.start_timeout, metrics=True) as plane:
        api = config.new_client_from_config(str(plane.kubeconfig))
        pools = system_and_serving_pools(plan.values, full_size=True)
        nodes = create_nodes(api, pools)
        say(f"      {len(nodes)} simulated nodes: {', '.join(nodes)}")
        stack = make_stack(plan.stack, root / "engine", kubernetes_config(plan.values, plane.kubeconfig))
        say(f"[3/4] deploying stack {plan.stack} through the real engine (its output: {log_path})")
        with log_path.open("a") as log, engine_stopped_if_interrupted(plane.pids()):
            try:
                result = stack.up(on_output=log.write)
            except auto.CommandError:
                log.flush()
                raise EngineError("deploying the stack failed", log_path) from None
        created = (result.summary.resource_changes or {}).get(auto.OpType.CREATE, 0)
        say(f"      {created} resources created")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        _print_ready(plan, plane.kubeconfig, result.outputs, pools[1].name, say)
        while not stop.wait(1.0):
            plane.check_alive()
        say(f"[4/4] destroying stack {plan.stack}")
        with log_path.open("a") as log, engine_stopped_if_interrupted(plane.pids()):
            try:
                deleted = (stack.destroy(on_output=log.write).summary.resource_changes or {}).get(auto.OpType.DELETE, 0)
            except auto.CommandError:
                log.flush()
                raise EngineError("destroying the stack failed", log_path) from None
        _wait_until_gone(api, plan.stack, say)
        say(f"      {deleted} resources deleted; no object of stack {plan.stack} is left")
    say("Stopped: every process of the control plane was stopped by its PID.")
    return 0


class EngineError(RuntimeError):
    """The engine failed; the message ends with the last lines of its output."""

    def __init__(self, what: str, log_path: Path):
        lines = log_path.read_text(errors="replace").splitlines()[-FAILURE_TAIL:]
        super().__init__(f"{what}; the engine's last lines:\n" + "\n".join(f"  {line}" for line in lines))


def _print_ready(
    plan: FirstRun, kubeconfig: Path, outputs: auto.OutputMap, pool: str, say: Callable[[str], None]
) -> None:
    say("Outputs:")
    for key, output in sorted(outputs.items()):
        value = "[secret]" if output.secret else json.dumps(output.value)
        say(f"  {key}: {value}")
    namespace = str(outputs["namespace"].value)
    say("The pods are simulated (no TF Serving runs), so restUrl answers nothing; the Kubernetes objects are real.")
    say("Next, in another terminal:")
    say(f"  export KUBECONFIG={kubeconfig}")
    say(f"  kubectl get pods -A            # any Kubernetes client; or: kubectl -n {namespace} get deploy,hpa,svc")
    say(
        f"  .venv/bin/python -m loadtest.watch --kubeconfig {kubeconfig} --namespace {namespace} "
        f"--node-pool {pool} --duration 60 --report-dir reports/local-watch"
    )
    say(f"{READY} stack {plan.stack} is up. Ctrl+C destroys it and stops the control plane.")


def _wait_until_gone(api: client.ApiClient, stack: str, say: Callable[[str], None]) -> None:
    """Until no namespace, Deployment or Service labelled as the stack's is left (a namespace goes only once the
    namespace controller has emptied it)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    selector = f"{INSTANCE_LABEL}={stack}"
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while True:
        found = [
            ("namespace", core.list_namespace(label_selector=selector).items),
            ("deployment", apps.list_deployment_for_all_namespaces(label_selector=selector).items),
            ("service", core.list_service_for_all_namespaces(label_selector=selector).items),
        ]
        left = [f"{kind} {item.metadata.name}" for kind, items in found for item in items if item.metadata]
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"after destroy, still there after {GONE_WITHIN_SECONDS:.0f} s: {', '.join(left)}")
        time.sleep(1.0)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
