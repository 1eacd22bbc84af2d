"""The scaling timeline: samples of the cluster, their CSV, the key moments and the chart."""

from __future__ import annotations

import csv
import itertools
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

TIMELINE_CSV = "timeline.csv"
TIMELINE_PNG = "timeline.png"
LOCUST_HISTORY_CSV = "locust_stats_history.csv"


@dataclass(frozen=True)
class Sample:
    """What the cluster looked like at one moment; `time` is Unix seconds, as in Locust's stats history."""

    time: float
    hpa_current_replicas: int
    hpa_desired_replicas: int
    hpa_cpu_utilization_percent: int | None
    hpa_cpu_target_percent: int | None
    ready_replicas: int
    running_pods: int
    pending_pods: int
    pending_reasons: str
    nodes: int
    ready_nodes: int
    # TF Serving's own view since the previous sample (None where its metrics could not be read).
    server_rps: float | None = None
    server_p95_ms: float | None = None


COLUMNS = [field.name for field in fields(Sample)]


def read_timeline(path: Path) -> list[Sample]:
    """timeline.csv as TimelineWriter wrote it; an empty cell of an optional column is None."""
    with path.open(newline="") as file:
        return [
            Sample(**{field.name: _cell(row[field.name], str(field.type)) for field in fields(Sample)})
            for row in csv.DictReader(file)
        ]


def _cell(text: str, kind: str) -> Any:
    if text == "" and kind.endswith("| None"):
        return None
    return {"int": int, "float": float, "str": str}[kind.split(" |")[0]](text)


@dataclass(frozen=True)
class FailedSample:
    """A moment the cluster could not be read, and why: the chart marks it instead of bridging it."""

    time: float
    error: str


def pending_by_reason(samples: list[Sample]) -> dict[str, list[int]]:
    """Pending pods per reason (Unschedulable, ContainerCreating, ...), one count per sample."""
    parsed = [dict(part.rsplit(":", 1) for part in s.pending_reasons.split(";") if part) for s in samples]
    reasons = sorted({reason for counts in parsed for reason in counts})
    return {reason: [int(counts.get(reason, 0)) for counts in parsed] for reason in reasons}


class TimelineWriter:
    """Appends samples to timeline.csv as they come, so that none is lost if the watch is cut short."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._file.flush()

    def write(self, sample: Sample) -> None:
        row = asdict(sample)
        row["time"] = f"{sample.time:.3f}"
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class Moment:
    time: float
    text: str


def key_moments(samples: list[Sample]) -> list[Moment]:
    """When each replica was asked for and became ready, when the HPA scaled down, when nodes joined or left."""
    moments: list[Moment] = []
    asked_at: dict[int, float] = {}
    for previous, sample in itertools.pairwise(samples):
        # Desired 0 is an HPA that has not synced yet: its first sync names the replicas already there, no new ask.
        baseline = previous.hpa_desired_replicas or previous.ready_replicas
        for replica in range(baseline + 1, sample.hpa_desired_replicas + 1):
            asked_at[replica] = sample.time
            moments.append(Moment(sample.time, f"replica {replica} asked for by the HPA"))
        if sample.hpa_desired_replicas < previous.hpa_desired_replicas:
            moments.append(Moment(sample.time, f"HPA scaled down to {sample.hpa_desired_replicas} replica(s)"))
        for replica in range(previous.ready_replicas + 1, sample.ready_replicas + 1):
            waited = f" ({sample.time - asked_at[replica]:.0f} s after it was asked for)" if replica in asked_at else ""
            moments.append(Moment(sample.time, f"replica {replica} ready{waited}"))
        # A node joins when it is Ready, not when its object appears while it boots.
        if sample.ready_nodes > previous.ready_nodes:
            moments.append(Moment(sample.time, f"node joined: {sample.ready_nodes} node(s) ready"))
        if sample.nodes < previous.nodes:
            moments.append(Moment(sample.time, f"node left: {sample.nodes} node(s)"))
    return moments


def format_moments(moments: list[Moment], start: float) -> str:
    if not moments:
        return "No scaling happened while watching."
    return "\n".join(f"{moment.time - start:7.0f} s  {moment.text}" for moment in moments)


@dataclass(frozen=True)
class LoadPoint:
    time: float
    users: int
    rps: float
    p95_ms: float | None


def read_locust_history(path: Path) -> list[LoadPoint]:
    """The Aggregated rows of Locust's stats history; empty when there is none."""
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [
            LoadPoint(
                time=float(row["Timestamp"]),
                users=int(row["User Count"]),
                rps=float(row["Requests/s"]),
                p95_ms=float(row["95%"]) if row["95%"] not in ("", "N/A") else None,
            )
            for row in csv.DictReader(file)
            if row["Name"] == "Aggregated"
        ]


def timeline_start(samples: list[Sample], load: list[LoadPoint]) -> float:
    """Time zero of the chart and the key moments: the first sample or load point, whichever came first."""
    return min([sample.time for sample in samples] + [point.time for point in load])


CHART_TITLE = "TF Serving under load: users, latency, CPU, replicas and nodes"


def render_chart(
    samples: list[Sample],
    load: list[LoadPoint],
    path: Path,
    failures: list[FailedSample] | None = None,
    title: str = CHART_TITLE,
    subtitle: str = "",
) -> list[str]:
    """Draw the load (when there is any) and the cluster on one time axis; return the labels of the series drawn.
    A subtitle says what the figures come from where that is not plain (a rehearsal's played and real parts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    failures = failures or []
    start = timeline_start(samples, load)
    # A load without latencies (a rehearsal's modelled load) gets no empty latency panel.
    latency = any(p.p95_ms is not None for p in load) or any(s.server_p95_ms is not None for s in samples)
    panels = 3 + (1 if load else 0) + (1 if load and latency else 0)
    figure, axes = plt.subplots(panels, 1, sharex=True, figsize=(11, 2.3 * panels + 1), constrained_layout=True)
    sample_times = [sample.time - start for sample in samples]
    twin_axes = []
    if load:
        users_axis, *rest = axes
        latency_axis, cluster_axes = (rest[0], rest[1:]) if latency else (None, rest)
        load_times = [point.time - start for point in load]
        users_axis.step(load_times, [point.users for point in load], where="post", label="users")
        rps_axis = users_axis.twinx()
        rps_axis.plot(load_times, [point.rps for point in load], color="tab:orange", label="requests/s")
        if any(s.server_rps is not None for s in samples):
            rps_axis.plot(
                sample_times,
                [s.server_rps for s in samples],
                color="tab:orange",
                linestyle="--",
                label="server requests/s",
            )
        twin_axes.append((users_axis, rps_axis))
        users_axis.set_ylabel("users")
        rps_axis.set_ylabel("requests/s")
        if latency_axis is not None:
            latency_axis.plot(load_times, [p.p95_ms for p in load], color="tab:red", label="p95 latency (ms)")
            if any(s.server_p95_ms is not None for s in samples):
                latency_axis.plot(
                    sample_times,
                    [s.server_p95_ms for s in samples],
                    color="tab:purple",
                    linestyle="--",
                    label="server p95 (ms)",
                )
            latency_axis.set_ylabel("p95 ms")
    else:
        cluster_axes = list(axes)
        cluster_axes[0].set_title("cluster only: no load-test data in this folder", fontsize=9)
    cpu_axis, replicas_axis, nodes_axis = cluster_axes

    cpu_axis.plot(sample_times, [s.hpa_cpu_utilization_percent for s in samples], marker=".", label="HPA CPU use (%)")
    cpu_axis.step(
        sample_times,
        [s.hpa_cpu_target_percent for s in samples],
        where="post",
        linestyle=":",
        color="black",
        label="HPA target (%)",
    )
    cpu_axis.set_ylabel("CPU % of request")
    replicas_axis.step(
        sample_times,
        [s.hpa_desired_replicas for s in samples],
        where="post",
        linestyle="--",
        linewidth=2,
        label="desired replicas",
    )
    replicas_axis.step(sample_times, [s.ready_replicas for s in samples], where="post", label="ready replicas")
    for reason, counts in pending_by_reason(samples).items():
        replicas_axis.step(sample_times, counts, where="post", linestyle="-.", label=f"pending: {reason}")
    replicas_axis.set_ylabel("pods")
    nodes_axis.step(sample_times, [s.nodes for s in samples], where="post", label="nodes")
    nodes_axis.set_ylabel("nodes")
    nodes_axis.set_xlabel("seconds since start")
    for index, failure in enumerate(failures):
        for axis in cluster_axes:
            axis.axvline(
                failure.time - start,
                color="grey",
                linestyle=":",
                linewidth=1,
                label="failed sample" if index == 0 and axis is replicas_axis else None,
            )

    labels: list[str] = []
    twins = dict(twin_axes)
    for axis in [*axes, *twins.values()]:
        handles, axis_labels = axis.get_legend_handles_labels()
        labels += axis_labels
        if handles and axis not in twins.values():
            extra = twins[axis].get_legend_handles_labels() if axis in twins else ([], [])
            axis.legend(handles + extra[0], axis_labels + extra[1], loc="upper left", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in (replicas_axis, nodes_axis):
        axis.yaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=10 if subtitle else None)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return labels
