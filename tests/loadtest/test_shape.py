"""loadtest/shape.py: the lab's step load and a constant load, as Locust's shape class asks them."""

from loadtest.shape import ConstantLoad, StepLoad


def test_lab_shape_adds_two_users_a_minute_for_eleven_steps_then_stops():
    lab = StepLoad()
    assert [lab.tick(60 * minute + 1) for minute in range(11)] == [(users, 1.0) for users in range(2, 23, 2)]
    assert lab.tick(0) == (2, 1.0)
    assert lab.tick(59.99) == (2, 1.0)
    assert lab.tick(60) == (4, 1.0)
    assert lab.tick(659.9) == (22, 1.0)
    assert lab.tick(660) is None
    assert lab.duration == 660


def test_step_options_change_the_shape():
    load = StepLoad(steps=3, step_seconds=10, step_users=5, spawn_rate=2.5)
    assert [load.tick(t) for t in (0, 10, 20, 30)] == [(5, 2.5), (10, 2.5), (15, 2.5), None]


def test_constant_load_holds_until_its_run_time():
    load = ConstantLoad(users=50, spawn_rate=10, run_seconds=20)
    assert load.tick(0) == load.tick(19.9) == (50, 10)
    assert load.tick(20) is None
