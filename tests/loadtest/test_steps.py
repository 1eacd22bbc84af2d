"""loadtest/steps.py: Locust's running totals cut into the load's steps, and their table."""

from locust.stats import RequestStats

from loadtest.steps import StepRecorder, summary_table


def test_step_recorder_cuts_running_totals_into_steps():
    stats = RequestStats()
    recorder = StepRecorder(stats)
    recorder.start_step(0, users=2, now=100.0)
    for response_time in (10, 20, 30, 40):
        stats.log_request("POST", "/predict", response_time, 100)
    stats.log_error("POST", "/predict", "HTTP 500")
    recorder.start_step(1, users=4, now=110.0)
    for response_time in [100] * 39 + [900]:
        stats.log_request("POST", "/predict", response_time, 100)
    recorder.finish(now=120.0)

    first, second = recorder.results
    assert (first.step, first.users, first.requests, first.failures, first.rps) == (1, 2, 4, 1, 0.4)
    assert (first.p50_ms, first.p95_ms) == (30, 40)  # Locust rounds a percentile up to a logged time
    assert (second.step, second.users, second.requests, second.failures, second.rps) == (2, 4, 40, 0, 4.0)
    assert (second.p50_ms, second.p95_ms, second.p99_ms) == (100, 100, 900)
    table = summary_table(recorder.results)
    assert " ".join(table.splitlines()[0].split()) == "step users secs requests failures rps p50 ms p95 ms p99 ms"
    assert len(table.splitlines()) == 4
