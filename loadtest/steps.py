"""Per-step results, cut from Locust's running totals at each step boundary."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from locust.stats import RequestStats, calculate_response_time_percentile, diff_response_time_dicts


@dataclass(frozen=True)
class StepResult:
    step: int
    users: int
    started: float
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: int
    p95_ms: int
    p99_ms: int


@dataclass(frozen=True)
class _Mark:
    step: int
    users: int
    at: float
    requests: int
    failures: int
    response_times: dict[int, int]


class StepRecorder:
    """Snapshots Locust's cumulative totals when a step starts; the difference between snapshots is a step.

    Working from totals means it also works on a distributed master, whose totals
    are the sum of what workers report. The totals entry is looked up each time:
    Locust replaces it when a test starts.
    """

    def __init__(self, stats: RequestStats) -> None:
        self._stats = stats
        self._marks: list[_Mark] = []
        self.results: list[StepResult] = []

    def start_step(self, step: int, users: int, now: float) -> None:
        self._close(now)
        total = self._stats.total
        self._marks.append(_Mark(step, users, now, total.num_requests, total.num_failures, dict(total.response_times)))

    def finish(self, now: float) -> None:
        self._close(now)
        self._marks.clear()

    def _close(self, now: float) -> None:
        if not self._marks:
            return
        mark, total = self._marks[-1], self._stats.total
        requests = total.num_requests - mark.requests
        times = diff_response_time_dicts(total.response_times, mark.response_times)
        seconds = max(now - mark.at, 1e-9)
        self.results.append(
            StepResult(
                step=mark.step + 1,
                users=mark.users,
                started=mark.at,
                seconds=round(seconds, 1),
                requests=requests,
                failures=total.num_failures - mark.failures,
                rps=round(requests / seconds, 2),
                p50_ms=calculate_response_time_percentile(times, requests, 0.50),
                p95_ms=calculate_response_time_percentile(times, requests, 0.95),
                p99_ms=calculate_response_time_percentile(times, requests, 0.99),
            )
        )


def summary_table(results: list[StepResult]) -> str:
    columns = ("step", "users", "secs", "requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms")
    widths = (4, 5, 6, 8, 8, 8, 7, 7, 7)
    header = " ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.step:>4} {r.users:>5} {r.seconds:>6.1f} {r.requests:>8} {r.failures:>8} {r.rps:>8.2f} "
            f"{r.p50_ms:>7} {r.p95_ms:>7} {r.p99_ms:>7}"
        )
    return "\n".join(lines)


def write_csv(results: list[StepResult], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(StepResult.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(result) for result in results)
