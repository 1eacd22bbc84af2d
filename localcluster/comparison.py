"""What a rehearsal run did, and runs side by side: a table whose every figure says where it comes from, and a chart.

Before each new replica is asked for, the HPA reacts: from when the load model's CPU needed it to the HPA's ask
(metrics-server's scrapes, the HPA's sync and decision: measured). Its way from "the HPA asked" to "Ready" is then
split three ways: what was injected (node boot, image pull, model load, the probes' schedule: cloud.py's delays,
not measured), what the model of cluster-autoscaler took (its scan), and the rest, which Kubernetes' own
controllers decided (the ReplicaSet, the scheduler, preemption): only that part is measured here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from infra.cost import MACHINE_PRICES
from localcluster.autoscaler_model import Rules
from localcluster.load_model import LoadModel
from localcluster.rehearsal import RunResult, at_rest

INJECTED = ("node boot", "image pull", "model load", "probes")
# The HPA changes the replica count only when usage is off its target by more than this share (Kubernetes'
# --horizontal-pod-autoscaler-tolerance default).
HPA_TOLERANCE = 0.1


@dataclass(frozen=True)
class NewReplica:
    # Seconds since the load started.
    asked_at: float
    # From when the load needed this replica to the HPA's ask (metrics-server's scrapes and the HPA's sync).
    reaction: float | None
    # None: not Ready while watched.
    ready_after: float | None
    kubernetes: float | None
    autoscaler_model: float | None
    injected: float | None


@dataclass(frozen=True)
class RunSummary:
    label: str
    replicas: tuple[NewReplica, ...]
    nodes_added: int
    nodes_removed: int
    seconds_over_target: float
    # Seconds after the load's end until the stack was back at rest; None: not within the watch.
    at_rest_after: float | None
    node_hours: float
    cost_usd: float | None


def needed_at(model: LoadModel, request_cores: float, target_percent: int, replicas: int, after: float) -> float | None:
    """The first second after `after` (seconds since the load started) at which the load model's CPU passed what
    `replicas` replicas take at the HPA's target and tolerance: the load needed one more. None: it never did."""
    capacity = replicas * request_cores * target_percent / 100 * (1 + HPA_TOLERANCE)
    second = math.floor(after) + 1
    while second <= model.load.duration:
        if model.cpu_cores(second) > capacity:
            return float(second)
        second += 1
    return None


def new_replicas(run: RunResult) -> tuple[NewReplica, ...]:
    """Each replica the HPA asked for during the run, matched in order with the serving pods made after the load
    started; its timing from the autoscaler model's record of that pod, and the HPA's reaction from the load model."""
    asks: list[tuple[float, float | None]] = []
    size = run.min_replicas
    target = next((s.hpa_cpu_target_percent for s in run.samples if s.hpa_cpu_target_percent), None)
    for moment, new_size in run.rescales:
        needed = None
        if run.model is not None and target and new_size > size:
            after = max((asked for asked, _ in asks), default=run.load_started) - run.load_started
            needed = needed_at(run.model, run.request_cores, target, size, after)
        asks += [(moment, None if needed is None else moment - run.load_started - needed)] * max(0, new_size - size)
        size = new_size
    made = sorted(
        (record for name, record in run.pods.items() if "spare" not in name and record.created_at >= run.load_started),
        key=lambda record: record.created_at,
    )
    replicas = []
    for index, (asked, reaction) in enumerate(asks):
        record = made[index] if index < len(made) else None
        if record is None or record.ready_at > run.ended:
            replicas.append(NewReplica(asked - run.load_started, reaction, None, None, None, None))
            continue
        total = record.ready_at - asked
        injected = sum(record.injected.get(name, 0.0) for name in INJECTED)
        replicas.append(
            NewReplica(
                asked - run.load_started,
                reaction,
                total,
                total - injected - record.autoscaler_wait,
                record.autoscaler_wait,
                injected,
            )
        )
    return tuple(replicas)


def node_hours_and_cost(run: RunResult) -> tuple[float, float | None]:
    """Every node billed from the moment it was asked for (a VM is billed from its creation) to its removal or the
    run's end, at the on-demand list price of its pool's machine type (infra/cost.py)."""
    machine = {pool.name: pool.machine_type for pool in run.pools}
    hours, cost = 0.0, 0.0
    priced = True
    for record in run.nodes.values():
        billed = ((record.removed_at or run.ended) - max(record.asked_at, run.load_started)) / 3600
        hours += billed
        price = MACHINE_PRICES.get(machine[record.pool])
        if price is None:
            priced = False
        else:
            cost += billed * price[0]
    return hours, cost if priced else None


def summarize(run: RunResult) -> RunSummary:
    samples = run.samples
    over = sum(
        later.time - earlier.time
        for earlier, later in itertools.pairwise(samples)
        if earlier.hpa_cpu_utilization_percent is not None
        and earlier.hpa_cpu_target_percent is not None
        and earlier.hpa_cpu_utilization_percent > earlier.hpa_cpu_target_percent
    )
    load_end = run.load_started + run.load_seconds
    rest = samples[-1].time - load_end if at_rest(samples, load_end, run.min_replicas, run.resting_nodes) else None
    hours, cost = node_hours_and_cost(run)
    return RunSummary(
        label=run.label,
        replicas=new_replicas(run),
        nodes_added=sum(1 for r in run.nodes.values() if r.asked_at >= run.load_started),
        nodes_removed=sum(1 for r in run.nodes.values() if r.removed_at is not None),
        seconds_over_target=over,
        at_rest_after=rest,
        node_hours=hours,
        cost_usd=cost,
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _replica(replica: NewReplica) -> str:
    asked = f"asked at {replica.asked_at:.0f} s"
    if replica.reaction is not None:
        asked += f" ({replica.reaction:.0f} s after the load needed it)"
    if replica.ready_after is None:
        return f"{asked}, not Ready while watched"
    return (
        f"{asked}: {replica.ready_after:.0f} s = {_seconds(replica.kubernetes)} + "
        f"{_seconds(replica.autoscaler_model)} + {_seconds(replica.injected)}"
    )


def table(runs: list[RunSummary]) -> str:
    """A Markdown table a person can read, and paste; the columns are explained under it (COLUMNS)."""
    rows = [
        "| run | new replicas: asked → Ready = Kubernetes + autoscaler model + injected | nodes added, removed "
        "| over the HPA target | back at rest after the load | node-hours | cost |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        replicas = "; ".join(_replica(r) for r in run.replicas) or "none asked for"
        rest = f"{run.at_rest_after:.0f} s" if run.at_rest_after is not None else "not within the watch"
        cost = f"${run.cost_usd:.3f}" if run.cost_usd is not None else "no price"
        nodes = f"{run.nodes_added}, {run.nodes_removed}"
        if run.nodes_added and not run.nodes_removed and run.at_rest_after is None:
            # Not "0": removal cannot show in a watch shorter than the autoscaler's wait.
            wait = Rules().unneeded_time / 60
            nodes = f"{run.nodes_added}, none within the watch (a node goes after {wait:.0f} min unneeded)"
        rows.append(
            f"| {run.label} | {replicas} | {nodes} | {run.seconds_over_target:.0f} s "
            f"| {rest} | {run.node_hours:.2f} | {cost} |"
        )
    return "\n".join(rows)


COLUMNS = """\
- **after the load needed it**: from the second the load model's CPU passed what the replicas asked for so far take
  at the HPA's target (plus its 10 % tolerance) to the HPA's ask: metrics-server's scrapes and the HPA's sync and
  decision, measured (the load's CPU itself is the model's).
- **asked → Ready**: from the HPA's SuccessfulRescale event to the replica's Ready, in seconds, split three ways:
  **Kubernetes** (measured: the ReplicaSet, the scheduler, preemption), **autoscaler model** (the model's scan
  before it asked for a node; a model of cluster-autoscaler, not cluster-autoscaler) and **injected** (node boot,
  image pull, model load, probes: the delays given, not measured).
- **over the HPA target**: seconds the HPA read the replicas' CPU above its target (metrics-server's numbers).
- **back at rest**: from the load's end until the HPA was back at its minimum and the pool at its starting size.
- **node-hours, cost**: every serving and system node from the load's start (or when it was asked for) to its
  removal or the run's end, at the on-demand list price of its machine type (infra/cost.py)."""
