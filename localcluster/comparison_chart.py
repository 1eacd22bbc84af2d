"""One chart of rehearsal runs side by side, on one time axis from each run's load start, that says in its subtitle
what was played and what was real."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from localcluster.rehearsal import PLAYED_AND_REAL, RunResult

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def render(runs: list[RunResult], users: list[tuple[float, float]], path: Path, title: str) -> None:
    """Users of the load (seconds, users), then each run's CPU against the HPA's target, replicas and nodes."""
    figure, (load_axis, cpu_axis, replica_axis, node_axis) = plt.subplots(4, 1, sharex=True, figsize=(11, 10))
    figure.suptitle(f"{title}\n", fontsize=12)
    figure.text(0.5, 0.935, PLAYED_AND_REAL, ha="center", va="top", fontsize=7.5, color="dimgray")
    load_axis.plot([t for t, _ in users], [u for _, u in users], color="black", label="users")
    load_axis.set_ylabel("users")
    for index, run in enumerate(runs):
        color, zero = COLORS[index % len(COLORS)], run.load_started
        seconds = [s.time - zero for s in run.samples]
        cpu_axis.plot(seconds, [s.hpa_cpu_utilization_percent for s in run.samples], color=color, label=run.label)
        # An HPA that has not computed yet reports 0 replicas asked for: a gap, not a drop. Asked-for marks are
        # drawn wider and beneath, so that both show where they coincide.
        asked = [s.hpa_desired_replicas or None for s in run.samples]
        replica_axis.step(
            seconds, asked, color=color, where="post", linewidth=4, alpha=0.35, label=f"{run.label}: asked for"
        )
        replica_axis.step(
            seconds, [s.ready_replicas for s in run.samples], color=color, where="post", label=f"{run.label}: Ready"
        )
        node_axis.step(seconds, [s.nodes for s in run.samples], color=color, where="post", label=run.label)
    target = next((s.hpa_cpu_target_percent for run in runs for s in run.samples if s.hpa_cpu_target_percent), None)
    if target:
        cpu_axis.axhline(target, color="black", linestyle=":", label=f"HPA target {target} %")
    cpu_axis.set_ylabel("CPU, % of request")
    replica_axis.set_ylabel("replicas")
    node_axis.set_ylabel("serving nodes")
    node_axis.set_xlabel("seconds since the load started")
    for axis in (load_axis, cpu_axis, replica_axis, node_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", fontsize="x-small")
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    figure.savefig(path, dpi=100)
    plt.close(figure)
