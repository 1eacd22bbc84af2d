"""From a load schedule to the CPU the serving replicas burn: what the rehearsal's metrics server reports.

The lab's users each send one image, wait 0.8-0.9 s and send the next (a closed loop), so a user sends about one
request per (think time + answer time). Each request costs the replica a fixed amount of CPU, shared evenly by
the Ready replicas, as the load balancer shares the requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtest.shape import StepLoad

# The lab's locustfile waits between 0.8 and 0.9 s (notes.md); an answer takes about 0.1 s below saturation
# (benchmarks/README.md, p50 0.10-0.11 s at 4 and 10 users).
SECONDS_PER_USER_REQUEST = 0.85 + 0.10
# CPU-seconds per prediction: 2 vCPUs served 19.7-20 images/s at saturation (benchmarks/README.md).
CPU_SECONDS_PER_REQUEST = 0.1


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
