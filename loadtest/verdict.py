"""The load test's verdict: PASS, FAIL or INTERRUPTED, with the figures behind it and its exit status."""

from __future__ import annotations

from dataclasses import dataclass

PASSED, FAILED, COULD_NOT_START = 0, 1, 2
# What a shell reports for a process ended by Ctrl+C (128 + SIGINT), so a cancelled pipeline is never green.
INTERRUPTED = 130


@dataclass(frozen=True)
class Verdict:
    requests: int
    failures: int
    max_failure_ratio: float
    rps: float
    percentiles_ms: tuple[float, float, float]  # p50, p95, p99
    # False when the load was stopped before its shape ended it.
    completed: bool
    # Requests sent and never answered when the load stopped; None where it cannot be known (workers).
    in_flight: int | None = None

    @property
    def ratio(self) -> float:
        """Failures among the requests sent, counting as failed those the load stopped before an answer."""
        unanswered = self.in_flight or 0
        sent = self.requests + unanswered
        return (self.failures + unanswered) / sent if sent else 1.0

    @property
    def passed(self) -> bool:
        return self.completed and self.requests > 0 and self.ratio <= self.max_failure_ratio

    @property
    def exit_code(self) -> int:
        if not self.completed:
            return INTERRUPTED
        return PASSED if self.passed else FAILED

    def line(self) -> str:
        word = "INTERRUPTED" if not self.completed else "PASS" if self.passed else "FAIL"
        if self.requests:
            p50, p95, p99 = self.percentiles_ms
            text = (
                f"{self.requests} requests, {self.failures} failures ({self.ratio:.2%}; allowed "
                f"{self.max_failure_ratio:.2%}), {self.rps:.1f} rps, "
                f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"
            )
        else:
            text = "no request was answered"
        if self.in_flight:
            text += f"; {self.in_flight} request(s) sent and never answered when the load stopped, counted as failed"
        if not self.completed:
            text += "; the load was stopped before its end"
        return f"{word}: {text}"
