"""The load over time: the lab's steps, or a constant load."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The lab: 2 users more every 60 s, spawned at 1 user/s, for 11 steps (2, 4, ... 22 users), then stop.
LAB_STEPS = 11
LAB_STEP_SECONDS = 60.0
LAB_STEP_USERS = 2
LAB_SPAWN_RATE = 1.0
# Locust's --run-time grammar: 20s, 5m, 1h30m, or bare seconds.
_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?|(?P<bare>\d+)")


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration like 20s, 5m, 1h30m or 90; None when it is not one."""
    match = _DURATION.fullmatch(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, bare = (int(part or 0) for part in match.group("h", "m", "s", "bare"))
    return float(bare or hours * 3600 + minutes * 60 + seconds)


@dataclass(frozen=True)
class StepLoad:
    steps: int = LAB_STEPS
    step_seconds: float = LAB_STEP_SECONDS
    step_users: int = LAB_STEP_USERS
    spawn_rate: float = LAB_SPAWN_RATE

    @property
    def duration(self) -> float:
        return self.steps * self.step_seconds

    def step_at(self, elapsed: float) -> int | None:
        """The 0-based step running `elapsed` seconds into the test, or None once the test is over."""
        if elapsed >= self.duration:
            return None
        return int(elapsed // self.step_seconds)

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        step = self.step_at(elapsed)
        return None if step is None else ((step + 1) * self.step_users, self.spawn_rate)


@dataclass(frozen=True)
class ConstantLoad:
    users: int
    spawn_rate: float
    run_seconds: float

    def step_at(self, elapsed: float) -> int | None:
        return 0 if elapsed < self.run_seconds else None

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        return None if self.step_at(elapsed) is None else (self.users, self.spawn_rate)


Load = StepLoad | ConstantLoad
