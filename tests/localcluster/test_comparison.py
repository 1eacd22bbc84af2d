"""localcluster/comparison.py: how long each new replica took, and the table that compares two runs."""

from __future__ import annotations

from loadtest.timeline import Sample
from localcluster.comparison import summarize, table


def _sample(t: float, desired: int, ready: int, nodes: int, cpu: int | None = 50) -> Sample:
    return Sample(t, desired, desired, cpu, 60, ready, ready, 0, "", nodes, nodes)


def test_the_table_says_how_long_each_new_replica_took_and_what_was_added() -> None:
    with_spare = [_sample(0, 0, 1, 2), _sample(5, 1, 1, 2, 70), _sample(10, 2, 1, 2, 70), _sample(35, 2, 2, 3)]
    without = [_sample(0, 1, 1, 1), _sample(10, 2, 1, 1, 80), _sample(130, 2, 1, 2, 80), _sample(160, 3, 2, 2)]
    runs = [summarize("dev, spareReplicas=1", with_spare), summarize("dev", without)]
    assert runs[0].asked_to_ready == (25.0,)  # replica 1 served before the watch: not a new one
    assert runs[1].asked_to_ready == (150.0, None)
    assert (runs[0].nodes_added, runs[1].nodes_added) == (1, 1)
    assert (runs[0].seconds_over_target, runs[1].seconds_over_target) == (30.0, 150.0)
    assert table(runs).splitlines()[2:] == [
        "| dev, spareReplicas=1 | 25 s | 1 | 30 s |",
        "| dev | 150 s, not ready while watched | 1 | 150 s |",
    ]
