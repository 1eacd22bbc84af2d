"""infra/rollout.py: the maxUnavailable that lets Kubernetes' Deployment controller finish a rollout on a full
pool at every replica count up to maxReplicas, and takes no lone replica down first."""

import math

import pytest

from infra.rollout import rollout_max_unavailable


def controller_can_move(replicas: int, slots: int, percent: int) -> bool:
    """rolling.go with every slot held by an available old pod and the rest Pending: an old pod may go only while
    available - (replicas - maxUnavailable) > 0, maxUnavailable being the percentage of replicas rounded down."""
    max_unavailable = math.floor(replicas * percent / 100)
    available = min(replicas, slots)
    return available - (replicas - max_unavailable) > 0 or replicas < slots


@pytest.mark.parametrize("slots", [1, 2, 3, 4, 8, 12])
@pytest.mark.parametrize("max_replicas", [1, 2, 3, 4, 5, 8, 16, 40])
def test_every_replica_count_up_to_max_replicas_can_roll(max_replicas, slots):
    percent = int(rollout_max_unavailable(max_replicas, slots).rstrip("%"))
    assert 0 <= percent <= 100
    for replicas in range(1, max_replicas + 1):
        assert controller_can_move(replicas, slots, percent), (replicas, slots, percent)
    if slots >= 2:
        assert math.floor(1 * percent / 100) == 0, "a lone replica is never taken down first"


@pytest.mark.parametrize(
    ("max_replicas", "slots", "expected"),
    [(4, 3, "50%"), (3, 3, "34%"), (2, 3, "34%"), (8, 8, "13%"), (1, 1, "100%"), (4, 1, "100%"), (10, 3, "80%")],
)
def test_the_least_percentage_that_does(max_replicas, slots, expected):
    assert rollout_max_unavailable(max_replicas, slots) == expected
    percent = int(expected.rstrip("%"))
    if percent > 1:
        # One point less fails some replica count: the figure is the least that works.
        assert not all(controller_can_move(r, slots, percent - 1) for r in range(1, max(max_replicas, slots) + 1))
