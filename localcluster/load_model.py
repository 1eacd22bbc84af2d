"""From a load schedule to the CPU the serving replicas burn: a model, whose inputs are measured figures.

The lab's users each send one image, wait 0.8-0.9 s and send the next (a closed loop), so a user sends about one
request per (think time + answer time). Each request costs the replica a fixed amount of CPU, shared evenly by
the Ready replicas, as the load balancer shares the requests. The CPU per request and the answer time come from
the serving benchmark's figures (benchmarks/serving_proxy.json: measured on another CPU than a GKE node's, hence a
range, not a number). What the model leaves out: a saturated replica answers slower, so its users send less.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.shape import StepLoad

MEASURED_FIGURES = Path(__file__).resolve().parents[1] / "benchmarks" / "serving_proxy.json"
# The lab's locustfile waits between 0.8 and 0.9 s between requests (notes.md).
THINK_SECONDS = 0.85


@dataclass(frozen=True)
class MeasuredInputs:
    """What the benchmark's figures give the model, and where they come from."""

    # CPU-seconds one prediction costs: the low, middle and high end of what the figures allow.
    cpu_seconds_per_request: tuple[float, float, float]
    # A warm replica's answer to one request, below saturation: the warm call's p50.
    answer_seconds: float
    source: str


def cpu_seconds_per_request(figures: dict) -> tuple[float, float, float]:
    """The host's vCPUs over the images per second it served while its CPU was the limit: one call at a time
    (TensorFlow spreads one image over every core) and the lab's loop at 22 users (past what the cores serve),
    over each figure's measured range. Low at the fastest rate, high at the slowest, middle halfway."""
    vcpus = figures["host"]["vcpus"]
    saturated = [figures["batch_img_per_s"]["1"]]
    saturated += [
        run["img_per_s"] for run in figures["closed_loop"] if (run["users"], run["setting"]) == (22, "unbatched")
    ]
    rates = [figure[end] for figure in saturated for end in ("low", "high")]
    low, high = vcpus / max(rates), vcpus / min(rates)
    return round(low, 3), round((low + high) / 2, 3), round(high, 3)


def measured_inputs(path: Path = MEASURED_FIGURES) -> MeasuredInputs:
    figures = json.loads(path.read_text())
    host = figures["host"]
    return MeasuredInputs(
        cpu_seconds_per_request=cpu_seconds_per_request(figures),
        answer_seconds=figures["warm_call_p50_s"]["median"],
        source=f"{path.name}, measured {figures['measured']} on {host['vcpus']} vCPUs of {host['cpu']}",
    )


MEASURED = measured_inputs()
CPU_SECONDS_PER_REQUEST = MEASURED.cpu_seconds_per_request[1]
SECONDS_PER_USER_REQUEST = THINK_SECONDS + MEASURED.answer_seconds


@dataclass(frozen=True)
class LoadModel:
    load: StepLoad = field(default_factory=StepLoad)
    cpu_seconds_per_request: float = CPU_SECONDS_PER_REQUEST
    seconds_per_user_request: float = SECONDS_PER_USER_REQUEST

    def users_at(self, elapsed: float) -> float:
        """Users running `elapsed` seconds in: each step adds its users at the spawn rate; 0 once it is over."""
        step = self.load.step_at(max(elapsed, 0.0))
        if step is None:
            return 0.0
        before = step * self.load.step_users
        into_step = elapsed - step * self.load.step_seconds
        return min(float(before + self.load.step_users), before + self.load.spawn_rate * into_step)

    def requests_per_second(self, elapsed: float) -> float:
        return self.users_at(elapsed) / self.seconds_per_user_request

    def cpu_cores(self, elapsed: float) -> float:
        """CPU the whole serving system burns at that moment, in cores."""
        return self.requests_per_second(elapsed) * self.cpu_seconds_per_request


def cores_per_replica(total_cores: float, ready_replicas: int, node_cores: float) -> float:
    """Each Ready replica's share, never more than its node has."""
    return 0.0 if ready_replicas == 0 else min(total_cores / ready_replicas, node_cores)
