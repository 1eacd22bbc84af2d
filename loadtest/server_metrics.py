"""TF Serving's own view of the load: requests per second and p95 latency from its Prometheus endpoint.

Each replica counts the requests it served (`:tensorflow:serving:request_count`) and
their wall time in a histogram of microseconds (`:tensorflow:serving:request_latency`;
TF Serving 2.8.0, servables/tensorflow/util.cc). The watcher reads every ready serving
pod's endpoint through the API server's pod proxy and turns two readings into a rate and
a p95 over the interval, per pod, then across pods. Beside the client's p95, it tells
queueing (client's p95 above the server's) from compute (both high).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Where the stack serves them (infra/serving_container.py; a test keeps the two equal).
METRICS_PATH = "/monitoring/prometheus/metrics"
REST_PORT = 8501
REQUEST_COUNT = ":tensorflow:serving:request_count"
LATENCY_BUCKET = ":tensorflow:serving:request_latency_bucket"
_LINE = re.compile(r"^(?P<name>[^\s{]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Reading:
    """One pod's cumulative counters at one moment."""

    time: float
    requests: float
    # Cumulative count per upper bound, in microseconds (inf for +Inf).
    latency_buckets: dict[float, float]


def parse(text: str, time: float, model_name: str) -> Reading:
    """The model's request count and latency histogram, summed over statuses and APIs."""
    requests, buckets = 0.0, {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match or line.startswith("#"):
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        if labels.get("model_name", model_name) != model_name:
            continue
        if match["name"] == REQUEST_COUNT:
            requests += float(match["value"])
        elif match["name"] == LATENCY_BUCKET and "le" in labels:
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + float(match["value"])
    return Reading(time, requests, buckets)


@dataclass(frozen=True)
class ServerView:
    rps: float
    p95_ms: float | None


def between(earlier: dict[str, Reading], later: dict[str, Reading]) -> ServerView | None:
    """Requests/s and p95 over the interval, from pods read both times (a restarted pod's counters start anew)."""
    pods = [pod for pod in later if pod in earlier and later[pod].requests >= earlier[pod].requests]
    if not pods:
        return None
    seconds = max(later[pods[0]].time - earlier[pods[0]].time, 1e-9)
    requests = sum(later[pod].requests - earlier[pod].requests for pod in pods)
    bounds = sorted({bound for pod in pods for bound in later[pod].latency_buckets})
    counts = [
        sum(later[pod].latency_buckets.get(bound, 0.0) - earlier[pod].latency_buckets.get(bound, 0.0) for pod in pods)
        for bound in bounds
    ]
    return ServerView(rps=requests / seconds, p95_ms=_quantile_ms(bounds, counts, 0.95))


def _quantile_ms(bounds: list[float], cumulative: list[float], share: float) -> float | None:
    """The quantile, interpolated linearly inside its bucket as Prometheus' histogram_quantile does, in ms."""
    if not cumulative or cumulative[-1] <= 0:
        return None
    wanted = share * cumulative[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= wanted:
            if not math.isfinite(bound):
                return lower / 1000  # beyond the last finite bucket: its bound is all that is known
            return (lower + (bound - lower) * (wanted - below) / max(count - below, 1e-9)) / 1000
        lower, below = bound, count
    return None
