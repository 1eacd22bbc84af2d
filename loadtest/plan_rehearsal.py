"""A plan played on the local control plane (docs/rehearsal.md): the stack with the plan's settings, a step load that
climbs to the planned peak, each request costing the CPU the capacity figures give, and the verdict: did the HPA ask
for the planned replicas while the load was at its peak (by the end of its last step)?"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from pulumi import automation as auto

from loadtest.capacity import Capacity
from loadtest.logs import show_logs
from loadtest.planning import Plan
from loadtest.shape import LAB_SPAWN_RATE, StepLoad
from localcluster.build import BuildError, build, cache_root
from localcluster.cloud import Delays
from localcluster.comparison import COLUMNS, summarize, table
from localcluster.controlplane import ControlPlaneError
from localcluster.engine import REPO
from localcluster.load_model import SECONDS_PER_USER_REQUEST, LoadModel
from localcluster.rehearsal import Rehearsal, RunResult, run_once

# The climb to the peak: this many steps of this length, the last one at the peak.
STEPS = 6
STEP_SECONDS = 60.0
# After the load, the rehearsal stops at once: a plan is judged on the way up.
AFTER_LOAD_SECONDS = 30.0


def climb(rps: float, steps: int = STEPS, step_seconds: float = STEP_SECONDS) -> StepLoad:
    """A step load whose last step sends `rps`: the lab's closed-loop users, one request every
    SECONDS_PER_USER_REQUEST each (localcluster/load_model.py)."""
    users = math.ceil(rps * SECONDS_PER_USER_REQUEST)
    return StepLoad(steps, step_seconds, math.ceil(users / steps), max(LAB_SPAWN_RATE, users / step_seconds))


def reached_at_peak(result: RunResult, replicas: int, load: StepLoad) -> float | None:
    """Seconds after the load started at which the HPA asked for `replicas`, if that was by the end of the peak."""
    for sample in result.samples:
        if sample.hpa_desired_replicas >= replicas and sample.time <= result.load_started + load.duration:
            return sample.time - result.load_started
    return None


def rehearse(
    plan: Plan,
    capacity: Capacity,
    values: dict[str, object],
    rps: float,
    stack: str,
    load: StepLoad | None = None,
    report_dir: Path | None = None,
    delays: Delays | None = None,
) -> int:
    """0 when the HPA asked for the planned replicas before the peak, 1 when it did not, 2 when the rehearsal could
    not run."""
    load = load or climb(rps)
    report_dir = report_dir or REPO / "reports" / time.strftime("plan-rehearsal-%Y%m%d-%H%M%S")
    settings = {**values, **plan.settings}
    rehearsal = Rehearsal(
        LoadModel(load, capacity.cpu_seconds_per_request),
        delays or Delays(),
        interval=5.0,
        at_rest_within=AFTER_LOAD_SECONDS,
    )
    delays = rehearsal.delays
    print(
        f"\nRehearsing: {load.steps} steps of {load.step_seconds:.0f} s up to {load.steps * load.step_users} users "
        f"(about {rps:g} requests/s), {capacity.cpu_seconds_per_request:.3f} CPU-s a request ({capacity.source}). "
        f"Injected: node boot {delays.node_boot:.0f} s, image pull {delays.image_pull:.0f} s, model load "
        f"{delays.model_load:.0f} s.",
        flush=True,
    )
    show_logs(logging.WARNING)
    try:
        build([], cache_root())
        result = run_once(f"{stack}, planned", settings, rehearsal, report_dir)
    except (BuildError, ControlPlaneError, TimeoutError) as error:
        print(f"python -m loadtest.plan: error: the rehearsal failed: {error}")
        return 2
    except auto.CommandError:
        print(f"python -m loadtest.plan: error: deploying the plan failed; see {report_dir}/engine.log")
        return 2
    summary = summarize(result)
    print(f"\n{table([summary])}\n\n{COLUMNS}\n\nTimeline: {report_dir}")
    peak = f"the peak step, {(load.steps - 1) * load.step_seconds:.0f}-{load.duration:.0f} s"
    when = reached_at_peak(result, plan.replicas_at_peak, load)
    if when is None:
        print(
            f"NOT HELD: the HPA did not ask for the planned {plan.replicas_at_peak} replicas by the end of {peak}; "
            "lower targetCpuUtilization, or raise minReplicas or spareReplicas."
        )
        return 1
    print(f"HELD: the HPA asked for the planned {plan.replicas_at_peak} replicas at {when:.0f} s ({peak}).")
    return 0
