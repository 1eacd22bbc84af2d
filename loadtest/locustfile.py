"""The lab's load test, for Locust: `python -m loadtest` runs it; `locust -f loadtest/locustfile.py` works too.

Each user posts the lab's predict request (built once, sent as bytes) through
FastHttpUser, checks that a prediction came back, and waits 0.8-0.9 s. The
shape runs the lab's steps unless --run-time asks for a constant load of -u users.
"""

from __future__ import annotations

import csv
import logging
import signal
import time
from pathlib import Path
from typing import ClassVar

import gevent
from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.runners import LocalRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from loadtest import model_api
from loadtest.options import REQUEST_OPTIONS, STEP_OPTIONS, VERDICT_OPTIONS, add_options, step_load
from loadtest.shape import LAB_SPAWN_RATE, ConstantLoad, Load, StepLoad
from loadtest.steps import StepRecorder, summary_table, write_csv
from loadtest.verdict import Verdict

STEPS_CSV = "steps.csv"

log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    add_options(parser, STEP_OPTIONS, "load steps")
    add_options(parser, REQUEST_OPTIONS, "request")
    add_options(parser, VERDICT_OPTIONS, "verdict")
    parser.add_argument("--report-dir", default=None, help="folder that receives steps.csv")
    parser.add_argument(
        "--verdict-file", default=None, help="write the verdict line there instead of printing it (python -m loadtest)"
    )


def _load(options) -> Load:
    spawn_rate = options.spawn_rate or LAB_SPAWN_RATE
    if options.run_time:
        return ConstantLoad(options.num_users or 1, spawn_rate, float(options.run_time))
    return step_load(options, spawn_rate)


class RequestDeadline(BaseException):
    """A request whose whole answer did not arrive within --request-timeout.

    A BaseException on purpose: the HTTP client takes a plain gevent.Timeout, or any Exception, raised while it
    reads the body as the end of that body, and hands back a truncated answer.
    """


class PredictUser(FastHttpUser):
    """One client of the model, as in the lab: a predict, then 0.8-0.9 s of think time."""

    wait_time = between(0.8, 0.9)
    # Set once per process at init, so no request re-encodes the 80 kB body.
    path: ClassVar[str] = model_api.predict_path()
    body: ClassVar[bytes] = b""
    default_headers = {"Content-Type": "application/json"}  # noqa: RUF012 - Locust reads it as declared
    # POSTs are never retried by the client (geventhttpclient retries only idempotent methods; Locust's
    # max_retries is 0), so every reset, refusal or timeout is one failed request.
    max_retries = 0
    # Requests sent and not yet answered in this process: reported when the load stops.
    in_flight: ClassVar[int] = 0

    @task
    def predict(self) -> None:
        PredictUser.in_flight += 1
        # network_timeout bounds each read; this bounds the whole answer, which a server may drip byte by byte.
        ran_out = RequestDeadline(f"no complete answer within {self.network_timeout:g} s")
        deadline = gevent.Timeout(self.network_timeout, ran_out)
        deadline.start()
        started = time.perf_counter()
        try:
            self._predict()
        except RequestDeadline as fired:
            if fired is not ran_out:
                raise
            self.environment.events.request.fire(
                request_type="POST",
                name=self.path,
                response_time=(time.perf_counter() - started) * 1000,
                response_length=0,
                response=None,
                context={},
                exception=fired,
            )
        finally:
            deadline.cancel()
            PredictUser.in_flight -= 1

    def _predict(self) -> None:
        with self.client.post(
            self.path,
            # Locust annotates str | dict, but bytes go out as they are, sparing an 80 kB encode per request.
            data=self.body,  # pyright: ignore[reportArgumentType]
            catch_response=True,
        ) as response:
            if response.status_code == 0:
                response.failure(f"connection error: {_connection_error(response)}")
                return
            reason = model_api.prediction_failure(response.status_code, response.content)
            if reason:
                response.failure(reason)
            else:
                response.success()


def _connection_error(response) -> str:
    error = getattr(response, "error", None)
    if error is None:
        return "no response"
    if "timed out" in str(error).lower() or type(error).__name__ == "Timeout":
        return f"no answer within {PredictUser.network_timeout:g} s"
    return str(error) or type(error).__name__


class LabLoadShape(LoadTestShape):
    """The lab's step load, or a constant one when --run-time is given (hence the common options)."""

    use_common_options = True
    recorder: StepRecorder | None = None
    # Set when the shape itself ended the load; a load stopped any other way (Ctrl+C) did not run its course.
    completed = False
    _step: int | None = None

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        load = _load(self.runner.environment.parsed_options)
        elapsed = self.get_run_time()
        step = load.step_at(elapsed)
        current = load.tick(elapsed)
        self.completed = current is None
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
            last.step,
            total,
            last.users,
            last.requests,
            last.failures,
            last.rps,
            last.p95_ms,
        )


@events.init.add_listener
def _prepare(environment: Environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:
        return
    PredictUser.path = model_api.predict_path(options.model_name, options.model_version or None)
    PredictUser.body = model_api.predict_body(model_api.load_image(options.image), options.signature)
    PredictUser.network_timeout = PredictUser.connection_timeout = options.request_timeout
    if isinstance(environment.shape_class, LabLoadShape) and not isinstance(environment.runner, WorkerRunner):
        environment.shape_class.recorder = StepRecorder(environment.stats)
    if not isinstance(environment.runner, WorkerRunner):
        # Ctrl+C would raise KeyboardInterrupt in whichever user greenlet runs, printing its traceback; raise it
        # in the main greenlet instead, where Locust expects it and writes its reports before it quits.
        main_greenlet = gevent.get_hub().parent
        assert main_greenlet is not None, "Locust runs its main loop in the hub's parent greenlet"
        gevent.signal_handler(signal.SIGINT, lambda: main_greenlet.throw(KeyboardInterrupt))


# Requests in flight when the load began to stop: read before the users are stopped, since a stopped user's
# request is dropped and no longer counted as in flight (Runner.stop fires test_stopping first).
_unanswered: list[int] = []


@events.test_stopping.add_listener
def _count_unanswered(**_kwargs) -> None:
    _unanswered.append(PredictUser.in_flight)


# The verdict and where it goes, from the quitting event to the quit event, which comes after Locust's tables.
_verdicts: list[tuple[Verdict, str | None]] = []
_environments: list[Environment] = []


@events.quitting.add_listener
def _report(environment: Environment, **_kwargs) -> None:
    options, shape = environment.parsed_options, environment.shape_class
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    if isinstance(shape, LabLoadShape) and shape.recorder is not None:
        shape.recorder.finish(time.time())
        _log_last_step(shape.recorder, _load(options))
        print("\nPer step:\n" + summary_table(shape.recorder.results), flush=True)
        if options.report_dir:
            write_csv(shape.recorder.results, Path(options.report_dir) / STEPS_CSV)
    total = environment.stats.total
    verdict = Verdict(
        requests=total.num_requests,
        failures=total.num_failures,
        max_failure_ratio=options.max_failure_ratio,
        rps=total.total_rps,
        percentiles_ms=(
            total.get_response_time_percentile(0.5),
            total.get_response_time_percentile(0.95),
            total.get_response_time_percentile(0.99),
        ),
        completed=not isinstance(shape, LabLoadShape) or shape.completed,
        # Only a local runner knows its users' unanswered requests; workers keep theirs.
        in_flight=_unanswered[-1] if _unanswered and isinstance(environment.runner, LocalRunner) else None,
    )
    _verdicts.append((verdict, options.verdict_file))
    _environments.append(environment)
    environment.process_exit_code = verdict.exit_code


def _final_csv(environment: Environment) -> None:
    """Rewrite the stats and failures CSVs with the final totals, which the console and HTML report show.

    Locust writes them on a one-second timer and not again at the end, so a run stopped by Ctrl+C left
    counts from up to a second before (30 against 36 requests, in one run).
    """
    prefix = environment.parsed_options.csv_prefix if environment.parsed_options else None
    if not prefix:
        return
    final = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("_stats.csv", final.requests_csv), ("_failures.csv", final.failures_csv)):
        with open(f"{prefix}{suffix}", "w", newline="") as handle:
            write(csv.writer(handle))  # pyright: ignore[reportArgumentType] - what Locust itself passes


@events.quit.add_listener
def _print_verdict(**_kwargs) -> None:
    """After Locust's own summary tables, so that the verdict is the last line of the run."""
    for environment in _environments:
        _final_csv(environment)
    for verdict, verdict_file in _verdicts:
        if verdict_file:
            Path(verdict_file).write_text(verdict.line() + "\n")
        else:
            print(f"\n{verdict.line()}", flush=True)
