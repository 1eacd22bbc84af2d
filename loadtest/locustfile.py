"""The lab's load test, for Locust: `python -m loadtest` runs it; `locust -f loadtest/locustfile.py` works too.

Each user posts the lab's predict request (built once, sent as bytes) through
FastHttpUser, checks that a prediction came back, and waits 0.8-0.9 s. The
shape runs the lab's steps unless --run-time asks for a constant load of -u users.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import ClassVar

from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtest import model_api
from loadtest.options import REQUEST_OPTIONS, STEP_OPTIONS, VERDICT_OPTIONS, add_options
from loadtest.shape import LAB_SPAWN_RATE, LAB_STEP_SECONDS, LAB_STEP_USERS, LAB_STEPS, ConstantLoad, Load, StepLoad
from loadtest.steps import StepRecorder, summary_table, write_csv

STEPS_CSV = "steps.csv"

log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    add_options(parser, STEP_OPTIONS, "load steps")
    add_options(parser, REQUEST_OPTIONS, "request")
    add_options(parser, VERDICT_OPTIONS, "verdict")
    parser.add_argument("--report-dir", default=None, help="folder that receives steps.csv")


def _load(options) -> Load:
    spawn_rate = options.spawn_rate or LAB_SPAWN_RATE
    if options.run_time:
        return ConstantLoad(options.num_users or 1, spawn_rate, float(options.run_time))
    return StepLoad(
        options.steps or LAB_STEPS,
        options.step_time or LAB_STEP_SECONDS,
        options.step_users or LAB_STEP_USERS,
        spawn_rate,
    )


class PredictUser(FastHttpUser):
    """One client of the model, as in the lab: a predict, then 0.8-0.9 s of think time."""

    wait_time = between(0.8, 0.9)
    # Set once per process at init, so no request re-encodes the 80 kB body.
    path: ClassVar[str] = model_api.predict_path()
    body: ClassVar[bytes] = b""
    default_headers = {"Content-Type": "application/json"}  # noqa: RUF012 - Locust reads it as declared

    @task
    def predict(self) -> None:
        with self.client.post(
            self.path,
            # Locust annotates str | dict, but bytes go out as they are, sparing an 80 kB encode per request.
            data=self.body,  # pyright: ignore[reportArgumentType]
            catch_response=True,
        ) as response:
            if response.status_code == 0:
                response.failure(f"connection error: {getattr(response, 'error', 'no response')}")
                return
            reason = model_api.prediction_failure(response.status_code, response.content)
            if reason:
                response.failure(reason)
            else:
                response.success()


class LabLoadShape(LoadTestShape):
    """The lab's step load, or a constant one when --run-time is given (hence the common options)."""

    use_common_options = True
    recorder: StepRecorder | None = None
    _step: int | None = None

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        load = _load(self.runner.environment.parsed_options)
        elapsed = self.get_run_time()
        step = load.step_at(elapsed)
        current = load.tick(elapsed)
        if step is not None and step != self._step and current is not None:
            self._step = step
            if self.recorder is not None:
                self.recorder.start_step(step, current[0], time.time())
                _log_last_step(self.recorder, load)
        return current


def _log_last_step(recorder: StepRecorder, load: Load) -> None:
    if recorder.results:
        last = recorder.results[-1]
        total = load.steps if isinstance(load, StepLoad) else 1
        log.info(
            "step %d/%d done: %d users, %d requests, %d failures, %.1f rps, p95 %d ms",
            last.step, total, last.users, last.requests, last.failures, last.rps, last.p95_ms,
        )  # fmt: skip


@events.init.add_listener
def _prepare(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:
        return
    PredictUser.path = model_api.predict_path(options.model_name, options.model_version or None)
    PredictUser.body = model_api.predict_body(model_api.load_image(options.image), options.signature)
    if isinstance(environment.shape_class, LabLoadShape) and not isinstance(environment.runner, WorkerRunner):
        environment.shape_class.recorder = StepRecorder(environment.stats)


@events.quitting.add_listener
def _report(environment: Environment, **_kwargs) -> None:
    options, shape = environment.parsed_options, environment.shape_class
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    total = environment.stats.total
    if isinstance(shape, LabLoadShape) and shape.recorder is not None:
        shape.recorder.finish(time.time())
        results = shape.recorder.results
        print("\nPer step:\n" + summary_table(results), flush=True)
        if options.report_dir:
            write_csv(results, Path(options.report_dir) / STEPS_CSV)
    ratio = total.num_failures / total.num_requests if total.num_requests else 1.0
    passed = total.num_requests > 0 and ratio <= options.max_failure_ratio
    print(
        f"\n{'PASS' if passed else 'FAIL'}: {total.num_requests} requests, {total.num_failures} failures "
        f"({ratio:.2%}; allowed {options.max_failure_ratio:.2%}), {total.total_rps:.1f} rps, "
        f"p50 {total.get_response_time_percentile(0.5)} ms, p95 {total.get_response_time_percentile(0.95)} ms, "
        f"p99 {total.get_response_time_percentile(0.99)} ms",
        flush=True,
    )
    environment.process_exit_code = 0 if passed else 1
