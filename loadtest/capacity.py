"""What one serving replica carries, from a load test's report folder or, without one, from the serving benchmark.

A run (`python -m loadtest --watch`) leaves Locust's stats history (requests/s and the p95 of the last seconds) and
`timeline.csv` (the HPA's CPU reading and the Ready replicas). Each timeline sample is matched with the load of the
seconds before it: requests/s per Ready replica against the HPA's CPU utilization and the p95. Through those points
runs one line from the origin (CPU grows with requests; an idle replica uses next to none), whose slope gives the
requests/s a replica serves at the HPA's target. The p95 objective bounds the rate too: the highest per-replica rate
up to which every sample met it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from kubernetes.utils.quantity import parse_quantity

from loadtest.timeline import LOCUST_HISTORY_CSV, TIMELINE_CSV, LoadPoint, Sample, read_locust_history, read_timeline
from localcluster.load_model import MEASURED

# Below this many matched samples, or this much CPU at the most, a run cannot tell a replica's rate.
MIN_OBSERVATIONS = 6
MIN_PEAK_CPU_PERCENT = 20
# Requests/s per replica are grouped into this many levels for the report.
LEVELS = 5


class CapacityError(ValueError):
    """The folder cannot give a replica's capacity; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class Observation:
    """One timeline sample with the load of the seconds before it."""

    time: float
    replicas: int
    rps_per_replica: float
    cpu_percent: int
    p95_ms: float | None


@dataclass(frozen=True)
class Capacity:
    # Requests/s one replica serves with its CPU at `target_percent` of its request.
    rps_at_target: float
    target_percent: int
    cpu_seconds_per_request: float
    observations: tuple[Observation, ...]
    # Where the figures come from, for every line that prints them.
    source: str

    def rate_under_p95(self, objective_ms: float) -> tuple[float, int] | None:
        """The requests/s per replica of the busiest level whose median p95 met the objective, and its samples,
        when a busier level missed it (latency grows with the load, so the objective bounds the rate there); None
        when no level met it. Medians, so that one slow second does not decide a level."""
        timed = [level for level in levels(self) if level.median_p95_ms is not None]
        met = [
            i
            for i, level in enumerate(timed)
            if level.median_p95_ms is not None and level.median_p95_ms <= objective_ms
        ]
        if not met:
            return None
        busiest = timed[met[-1]]
        return (busiest.rps_per_replica if met[-1] < len(timed) - 1 else math.inf), busiest.samples


def observations(samples: list[Sample], load: list[LoadPoint]) -> list[Observation]:
    """Samples with load, Ready replicas and a CPU reading, each with the mean requests/s and the worst p95 of the
    load points since the previous sample."""
    found = []
    previous = None
    for sample in samples:
        window = [p for p in load if (previous is None or p.time > previous) and p.time <= sample.time]
        previous = sample.time
        rps = sum(p.rps for p in window) / len(window) if window else 0.0
        if not rps or not sample.ready_replicas or sample.hpa_cpu_utilization_percent is None:
            continue
        latencies = [p.p95_ms for p in window if p.p95_ms is not None]
        found.append(
            Observation(
                sample.time,
                sample.ready_replicas,
                rps / sample.ready_replicas,
                sample.hpa_cpu_utilization_percent,
                max(latencies) if latencies else None,
            )
        )
    return found


def from_run(folder: Path, cpu_request: str) -> Capacity:
    """A replica's capacity as the run in `folder` measured it (the HPA's target read from its timeline)."""
    if not folder.is_dir():
        raise CapacityError(f"--from {folder}: no such folder; give a load test's report folder, e.g. reports/<time>")
    history, timeline = folder / LOCUST_HISTORY_CSV, folder / TIMELINE_CSV
    for needed, made_by in ((history, "python -m loadtest"), (timeline, "python -m loadtest --watch")):
        if not needed.is_file():
            raise CapacityError(f"--from {folder}: no {needed.name}; it is written by `{made_by}`")
    samples = read_timeline(timeline)
    found = observations(samples, read_locust_history(history))
    targets = {s.hpa_cpu_target_percent for s in samples if s.hpa_cpu_target_percent}
    if len(found) < MIN_OBSERVATIONS or not targets:
        raise CapacityError(
            f"--from {folder}: {len(found)} samples with load, Ready replicas and a CPU reading; at least "
            f"{MIN_OBSERVATIONS} are needed: run the load test longer with --watch"
        )
    peak = max(o.cpu_percent for o in found)
    if peak < MIN_PEAK_CPU_PERCENT:
        raise CapacityError(
            f"--from {folder}: the replicas' CPU never rose above {peak} % of their request, too flat to tell a "
            f"replica's rate; run a load that takes it past {MIN_PEAK_CPU_PERCENT} % (more --step-users)"
        )
    # Least squares through the origin: CPU % = slope x requests/s per replica.
    slope = sum(o.rps_per_replica * o.cpu_percent for o in found) / sum(o.rps_per_replica**2 for o in found)
    target = max(targets)
    return Capacity(
        rps_at_target=target / slope,
        target_percent=target,
        cpu_seconds_per_request=slope / 100 * _cores(cpu_request),
        observations=tuple(found),
        source=f"the run in {folder} ({len(found)} samples)",
    )


def from_benchmark(cpu_request: str, target_percent: int) -> Capacity:
    """A replica's capacity from the serving benchmark's CPU per request (the middle of its range), measured on
    another CPU than a GKE node's; it gives no latency under load, so it cannot bound the p95."""
    cpu = MEASURED.cpu_seconds_per_request[1]
    return Capacity(
        rps_at_target=target_percent / 100 * _cores(cpu_request) / cpu,
        target_percent=target_percent,
        cpu_seconds_per_request=cpu,
        observations=(),
        source=f"the serving benchmark, {cpu} CPU-s a request ({MEASURED.source}; another CPU than a GKE node's)",
    )


@dataclass(frozen=True)
class Level:
    """Samples of one band of requests/s per replica: their mean rate and CPU, and the median of their p95s."""

    rps_per_replica: float
    cpu_percent: float
    median_p95_ms: float | None
    samples: int


def levels(capacity: Capacity) -> list[Level]:
    """The observations in LEVELS equal bands of requests/s per replica, from the quietest."""
    if not capacity.observations:
        return []
    top = max(o.rps_per_replica for o in capacity.observations)
    bands: dict[int, list[Observation]] = {}
    for observation in capacity.observations:
        band = min(LEVELS - 1, math.floor(observation.rps_per_replica / top * LEVELS))
        bands.setdefault(band, []).append(observation)
    return [
        Level(
            statistics.fmean(o.rps_per_replica for o in band),
            statistics.fmean(o.cpu_percent for o in band),
            statistics.median(latencies) if (latencies := [o.p95_ms for o in band if o.p95_ms is not None]) else None,
            len(band),
        )
        for _, band in sorted(bands.items())
    ]


def _cores(quantity: str) -> float:
    return float(Decimal(str(parse_quantity(quantity))))
