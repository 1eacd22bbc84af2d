"""What a rehearsal run did, read off the watcher's samples, and two runs side by side: a table and one chart."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtest.timeline import LoadPoint, Sample


@dataclass(frozen=True)
class RunSummary:
    label: str
    # Seconds from the HPA asking for each new replica to that replica being ready (None: never, while watched).
    asked_to_ready: tuple[float | None, ...]
    nodes_added: int
    seconds_over_target: float


def summarize(label: str, samples: list[Sample]) -> RunSummary:
    asked: dict[int, float] = {}
    ready: dict[int, float] = {}
    # Replicas serving when the watch began were asked for before it (an HPA without a status yet says 0).
    serving = samples[0].ready_replicas if samples else 0
    for previous, sample in itertools.pairwise(samples):
        for replica in range(max(previous.hpa_desired_replicas, serving) + 1, sample.hpa_desired_replicas + 1):
            asked.setdefault(replica, sample.time)
        for replica in range(previous.ready_replicas + 1, sample.ready_replicas + 1):
            if replica in asked:
                ready.setdefault(replica, sample.time)
    over = sum(
        later.time - earlier.time
        for earlier, later in itertools.pairwise(samples)
        if earlier.hpa_cpu_utilization_percent is not None
        and earlier.hpa_cpu_target_percent is not None
        and earlier.hpa_cpu_utilization_percent > earlier.hpa_cpu_target_percent
    )
    return RunSummary(
        label=label,
        asked_to_ready=tuple(ready[r] - asked[r] if r in ready else None for r in sorted(asked)),
        nodes_added=max(s.nodes for s in samples) - samples[0].nodes if samples else 0,
        seconds_over_target=over,
    )


def table(runs: list[RunSummary]) -> str:
    """A Markdown table a person can read, and paste."""

    def waits(run: RunSummary) -> str:
        shown = [f"{w:.0f} s" if w is not None else "not ready while watched" for w in run.asked_to_ready]
        return ", ".join(shown) or "no new replica"

    rows = [
        "| run | asked → ready, each new replica | nodes added | time over the HPA target |",
        "| --- | --- | --- | --- |",
    ]
    rows += [f"| {r.label} | {waits(r)} | {r.nodes_added} | {r.seconds_over_target:.0f} s |" for r in runs]
    return "\n".join(rows)


def render(runs: list[tuple[str, list[Sample]]], load: list[LoadPoint], path: Path) -> None:
    """The load, then each run's ready replicas and nodes, on one time axis from each run's load start."""
    figure, (load_axis, replica_axis, node_axis) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    if load:
        start = load[0].time
        load_axis.plot([p.time - start for p in load], [p.users for p in load], color="black", label="users")
    load_axis.set_ylabel("users")
    for (label, samples), color in zip(runs, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False):
        if not samples:
            continue
        zero = samples[0].time
        seconds = [s.time - zero for s in samples]
        # An HPA that has not computed yet reports 0 replicas asked for: a gap, not a drop.
        asked = [s.hpa_desired_replicas or None for s in samples]
        replica_axis.step(
            seconds, [s.ready_replicas for s in samples], color=color, where="post", label=f"{label}: ready"
        )
        replica_axis.step(seconds, asked, ":", color=color, where="post", label=f"{label}: asked for")
        node_axis.step(seconds, [s.nodes for s in samples], color=color, where="post", label=label)
    replica_axis.set_ylabel("replicas")
    node_axis.set_ylabel("serving nodes")
    node_axis.set_xlabel("seconds since the load started")
    for axis in (load_axis, replica_axis, node_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
