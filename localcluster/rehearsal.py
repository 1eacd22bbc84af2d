"""One rehearsal run: a control plane of its own with the real resource-metrics pipeline, the stack deployed through
the real engine, each replica's CPU written from the load model, the model of cluster-autoscaler adding and
removing nodes, and the watcher's timeline, until the load is over and the stack is back at rest (or a limit).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from kubernetes import client, config
from kubernetes.utils.quantity import parse_quantity

from infra.node_fit import pods_per_node
from infra.serving import APP_NAME, COMPONENT
from loadtest.sampler import ClusterSampler, WatchTarget
from loadtest.shape import StepLoad
from loadtest.timeline import TIMELINE_PNG, LoadPoint, Sample, render_chart
from loadtest.watch import Watcher
from localcluster.autoscaler_model import Rules
from localcluster.cloud import Cloud, Delays, NodeRecord, PodRecord
from localcluster.controlplane import ControlPlane
from localcluster.engine import engine_stopped_if_interrupted, make_stack
from localcluster.load_model import LoadModel
from localcluster.nodes import Pool, allocatable, create_nodes, system_and_serving_pools
from localcluster.stack_settings import kubernetes_config
from localcluster.usage_writer import UsageWriter

SERVING_POD = {"app.kubernetes.io/component": COMPONENT}
# What a rehearsal's charts show, and where each part comes from.
PLAYED_AND_REAL = (
    "Played: the load and its CPU (load model, benchmark figures), node boot, image pull, model load (injected), "
    "nodes added and removed (a model of cluster-autoscaler).\nReal: metrics-server's CPU from kwok's usage "
    "emulation, the HPA's decisions, the scheduler and its preemption, the Deployment and ReplicaSet controllers."
)
# After the load, how long to wait at most for the stack to be back at rest: the HPA's 5-minute downscale
# stabilization, then the autoscaler's 10 minutes of an unneeded node, and a few scans.
AT_REST_WITHIN_SECONDS = 1200.0


@dataclass(frozen=True)
class Rehearsal:
    model: LoadModel
    delays: Delays
    interval: float
    at_rest_within: float = AT_REST_WITHIN_SECONDS
    rules: Rules = field(default_factory=Rules)
    # kube-controller-manager flags beyond its defaults (the engine tests shorten the HPA's downscale window).
    controller_flags: tuple[str, ...] = ()


@dataclass
class RunResult:
    label: str
    samples: list[Sample]
    load_started: float
    load_seconds: float
    ended: float
    pools: list[Pool]
    nodes: dict[str, NodeRecord]
    pods: dict[str, PodRecord]
    # The HPA's rescales: (when, new size), from its SuccessfulRescale events.
    rescales: list[tuple[float, int]]
    min_replicas: int
    resting_nodes: int
    # What the replicas' CPU followed, and one replica's CPU request in cores: when the load needed more replicas.
    model: LoadModel | None = None
    request_cores: float = 0.0


def pools(values: dict[str, object]) -> list[Pool]:
    """The stack's system and serving pools, at the size they start with and the most they may grow to."""
    return system_and_serving_pools(values, full_size=False)


def resting_nodes(values: dict[str, object], pool: Pool) -> int:
    """The serving nodes the stack keeps without load: its minimum replicas and warm spares, packed, and never
    fewer than the pool's minimum."""
    per_node = (
        pods_per_node(
            pool.machine_type,
            Decimal(str(parse_quantity(str(values["cpuRequest"])))),
            Decimal(str(parse_quantity(str(values["memoryRequest"])))),
        )
        or 1
    )
    pods = int(str(values["minReplicas"])) + int(str(values["spareReplicas"]))
    return max(pool.min_nodes, -(-pods // per_node))


def at_rest(samples: list[Sample], after: float, min_replicas: int, nodes: int) -> bool:
    """Past `after`, the HPA is back at its minimum, as many replicas serve, and the serving pool has its resting
    size."""
    if not samples or samples[-1].time <= after:
        return False
    last = samples[-1]
    return last.hpa_desired_replicas == last.ready_replicas == min_replicas and last.nodes <= nodes


def settle(api: client.ApiClient, namespace: str, within: float) -> None:
    """Until every pod of the stack runs (a warm spare's node may still be booting after `up`), or `within`."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + within
    while any(pod.status and pod.status.phase != "Running" for pod in core.list_namespaced_pod(namespace).items):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack's pods were not all running within {within:.0f} s of its deploy")
        time.sleep(0.5)


def rescales(api: client.ApiClient, namespace: str) -> list[tuple[float, int]]:
    """The HPA's own record of when it asked for how many replicas."""
    found = []
    for event in client.CoreV1Api(api).list_namespaced_event(namespace).items:
        if event.reason == "SuccessfulRescale" and event.message and "New size: " in event.message:
            moment = event.last_timestamp or event.event_time or event.first_timestamp
            size = int(event.message.split("New size: ")[1].split(";")[0])
            if moment is not None:
                found.append((moment.timestamp(), size))
    return sorted(found)


def run_once(
    label: str,
    values: dict[str, object],
    plan: Rehearsal,
    report_dir: Path,
    before_teardown: Callable[[client.ApiClient], None] | None = None,
    say: Callable[[str], None] = print,
) -> RunResult:
    """One rehearsal on a control plane of its own, whose data folder is removed when it returns; every process it
    started is stopped. `before_teardown` sees the cluster as the run left it (the engine tests read its events)."""
    report_dir = report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    node_pools = pools(values)
    serving = node_pools[1]
    serving_cores = float(parse_quantity(allocatable(serving.machine_type)["cpu"]))
    namespace = str(values["namespace"])
    with tempfile.TemporaryDirectory(prefix="rehearsal-", dir=report_dir) as scratch:
        root = Path(scratch)
        say(f"[{label}] starting a local control plane in {root} (removed when the run ends)")
        with ControlPlane(root, timed=True, metrics=True, controller_flags=plan.controller_flags) as plane:
            api = config.new_client_from_config(str(plane.kubeconfig))
            create_nodes(api, node_pools)
            selector = ",".join(f"{key}={value}" for key, value in SERVING_POD.items())
            usage = UsageWriter(api, plan.model, namespace, selector, serving_cores)
            cloud = Cloud(api, node_pools, plan.delays, SERVING_POD, plan.rules)
            cloud.start()
            try:
                say(f"[{label}] deploying the stack through the engine (its output: {report_dir / 'engine.log'})")
                stack = make_stack("rehearsal", root / "engine", kubernetes_config(values, plane.kubeconfig))
                with (report_dir / "engine.log").open("a") as log, engine_stopped_if_interrupted(plane.pids()):
                    stack.up(on_output=lambda line: log.write(line))
                # The load starts on the stack at rest: its spare's node booted, every pod running.
                settle(api, namespace, plan.delays.node_boot + plan.delays.image_pull + 60)
                target = WatchTarget(
                    namespace, APP_NAME, APP_NAME, serving.name, str(values["modelName"]), "the rehearsal's stack"
                )
                sampler = ClusterSampler(config.new_client_from_config(str(plane.kubeconfig)), target, timeout=10)
                load_end = plan.model.load.duration
                say(
                    f"[{label}] load starts: {plan.model.load.steps} steps of {plan.model.load.step_seconds:.0f} s, "
                    f"then until back at rest (at most {plan.at_rest_within:.0f} s)"
                )
                started = usage.start()
                minimum, resting = int(str(values["minReplicas"])), resting_nodes(values, serving)
                phases = Phases(label, plan.model.load, started, say)
                with Watcher(sampler, report_dir, plan.interval, load_end + plan.at_rest_within) as watcher:

                    def back_at_rest() -> bool:
                        phases.announce(watcher.record.samples)
                        return at_rest(watcher.record.samples, started + load_end, minimum, resting)

                    if watcher.wait(until=back_at_rest):
                        raise KeyboardInterrupt
                say(f"[{label}] {phases.ending(watcher.record.samples, minimum, resting)}; stopping the control plane")
                result = RunResult(
                    label,
                    watcher.record.samples,
                    started,
                    load_end,
                    time.time(),
                    node_pools,
                    cloud.nodes,
                    cloud.pods,
                    rescales(api, namespace),
                    minimum,
                    resting,
                    plan.model,
                    float(parse_quantity(str(values["cpuRequest"]))),
                )
                if before_teardown is not None:
                    before_teardown(api)
            finally:
                cloud.stop()
                usage.stop()
    # The watcher drew the cluster and printed the key moments; the chart gets the load it was driven by.
    render_chart(
        result.samples,
        load_points(plan.model, started),
        report_dir / TIMELINE_PNG,
        title=f"Rehearsal run {label}: users, requests/s, CPU, replicas and nodes",
        subtitle=PLAYED_AND_REAL,
    )
    return result


class Phases:
    """One console line as each load step starts, and when the load is over, with the replicas and nodes then."""

    def __init__(self, label: str, load: StepLoad, started: float, say: Callable[[str], None]):
        self.label, self.load, self.started, self.say = label, load, started, say
        self.step: int | None = -1

    def announce(self, samples: list[Sample]) -> None:
        step = self.load.step_at(time.time() - self.started)
        if step == self.step:
            return
        self.step = step
        now = (
            f"{samples[-1].ready_replicas} replica(s) Ready, {samples[-1].nodes} node(s)"
            if samples
            else "no sample yet"
        )
        if step is None:
            self.say(f"[{self.label}] load over; watching until back at rest ({now})")
        else:
            users = (step + 1) * self.load.step_users
            self.say(f"[{self.label}] load step {step + 1} of {self.load.steps}: {users} users ({now})")

    def ending(self, samples: list[Sample], minimum: int, resting: int) -> str:
        if at_rest(samples, self.started + self.load.duration, minimum, resting):
            return f"back at rest {samples[-1].time - self.started - self.load.duration:.0f} s after the load"
        return "not back at rest within the watch"


def load_points(model: LoadModel, start: float) -> list[LoadPoint]:
    seconds = range(int(model.load.duration) + 1)
    return [LoadPoint(start + s, round(model.users_at(s)), model.requests_per_second(s), None) for s in seconds]
