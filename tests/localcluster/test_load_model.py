"""localcluster/load_model.py: the lab's load turned into CPU, and how ready replicas share it."""

from __future__ import annotations

import pytest

from loadtest.shape import StepLoad
from localcluster.load_model import MEASURED, LoadModel, cores_per_replica, cpu_seconds_per_request


def test_the_lab_load_ramps_at_the_spawn_rate_and_stops() -> None:
    model = LoadModel(StepLoad(steps=11, step_seconds=60, step_users=2, spawn_rate=1.0))
    assert model.users_at(0) == 0
    assert model.users_at(1.5) == 1.5
    assert model.users_at(30) == 2  # the step's 2 users are all running
    assert model.users_at(61) == 3  # the next 2 arrive at 1 per second
    assert model.users_at(659) == 22
    assert model.users_at(660) == 0
    # 22 users, one request each per 0.85 s of thinking and 0.10 s of answer, at the middle CPU per request.
    assert model.cpu_cores(650) == pytest.approx(22 / 0.95 * 0.17)


def test_cpu_per_request_spans_what_the_saturated_figures_allow() -> None:
    figures = {
        "host": {"vcpus": 2},
        "batch_img_per_s": {"1": {"median": 10.0, "low": 9.0, "high": 11.0}},
        "closed_loop": [
            {"users": 22, "setting": "unbatched", "img_per_s": {"median": 13.0, "low": 12.0, "high": 16.0}},
            {"users": 10, "setting": "unbatched", "img_per_s": {"median": 100.0, "low": 100.0, "high": 100.0}},
        ],
    }
    # 2 vCPUs over 16 img/s at the fastest, over 9 at the slowest; 10 users do not saturate: left out.
    assert cpu_seconds_per_request(figures) == (0.125, round((0.125 + 2 / 9) / 2, 3), round(2 / 9, 3))


def test_the_rehearsals_inputs_come_from_the_checked_in_benchmark_figures() -> None:
    assert MEASURED.cpu_seconds_per_request == (0.145, 0.17, 0.195)
    assert MEASURED.answer_seconds == 0.1
    assert MEASURED.source == "serving_proxy.json, measured 2026-12-01 on 2 vCPUs of Intel Xeon with AVX-512"


def test_ready_replicas_share_the_cpu_up_to_their_node() -> None:
    assert cores_per_replica(4.0, 2, 3.92) == 2.0
    assert cores_per_replica(9.0, 2, 3.92) == 3.92
    assert cores_per_replica(4.0, 0, 3.92) == 0.0
