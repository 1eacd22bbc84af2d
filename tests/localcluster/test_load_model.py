"""localcluster/load_model.py: the lab's load turned into CPU, and how ready replicas share it."""

from __future__ import annotations

import pytest

from loadtest.shape import StepLoad
from localcluster.load_model import LoadModel, cores_per_replica


def test_the_lab_load_ramps_at_the_spawn_rate_and_stops() -> None:
    model = LoadModel(StepLoad(steps=11, step_seconds=60, step_users=2, spawn_rate=1.0))
    assert model.users_at(0) == 0
    assert model.users_at(1.5) == 1.5
    assert model.users_at(30) == 2  # the step's 2 users are all running
    assert model.users_at(61) == 3  # the next 2 arrive at 1 per second
    assert model.users_at(659) == 22
    assert model.users_at(660) == 0
    # 22 users, one request each per 0.95 s, 0.1 CPU-s each: 2.3 cores, 77 % of one 3-CPU replica.
    assert model.cpu_cores(650) == pytest.approx(22 / 0.95 * 0.1)


def test_ready_replicas_share_the_cpu_up_to_their_node() -> None:
    assert cores_per_replica(4.0, 2, 3.92) == 2.0
    assert cores_per_replica(9.0, 2, 3.92) == 3.92
    assert cores_per_replica(4.0, 0, 3.92) == 0.0
