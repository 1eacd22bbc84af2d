"""The pieces of the load test on their own: shape, request body, response checks, per-step cuts."""

import base64
import hashlib
import json

import pytest
from locust.stats import RequestStats

from loadtest import model_api
from loadtest.shape import ConstantLoad, StepLoad
from loadtest.steps import StepRecorder, summary_table


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


def test_default_body_is_the_labs_request_body():
    body = model_api.predict_body(model_api.default_image())
    assert len(body) == 81_812
    request = json.loads(body)
    assert request["signature_name"] == "serving_preprocess"
    (instance,) = request["instances"]
    image = base64.b64decode(instance["b64"])
    assert len(image) == 61_306
    assert hashlib.sha256(image).hexdigest().startswith("a8ca6d734765703b")


def test_predict_paths():
    assert model_api.predict_path() == "/v1/models/image_classifier/versions/1:predict"
    assert model_api.predict_path("resnet", None) == "/v1/models/resnet:predict"


GOOD = json.dumps({"predictions": [{"labels": ["a", "b"], "probabilities": [0.3, 0.7]}]})


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, GOOD, None),
        (503, "upstream connect error", "HTTP 503"),
        (400, '{"error": "Invalid argument"}', "HTTP 400: Invalid argument"),
        (200, "<html>", "body is not JSON"),
        (200, "[1, 2]", "body is not a JSON object"),
        (200, '{"error": "Servable not found"}', "error: Servable not found"),
        (200, '{"predictions": []}', "expected 1 prediction(s), got 0"),
        (200, '{"outputs": {}}', "expected 1 prediction(s), got 0"),
        (200, b"\xff\xfe", "body is not JSON"),
    ],
)
def test_what_counts_as_a_failure(status, body, reason):
    assert model_api.prediction_failure(status, body) == reason


def test_top_labels_are_most_likely_first():
    assert model_api.top_labels(json.loads(GOOD)) == [("b", 0.7), ("a", 0.3)]


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
    assert table.splitlines()[0].split() == [
        "step",
        "users",
        "secs",
        "requests",
        "failures",
        "rps",
        "p50",
        "ms",
        "p95",
        "ms",
        "p99",
        "ms",
    ]
    assert len(table.splitlines()) == 4


def test_server_metrics_give_the_rate_and_the_interpolated_p95():
    from loadtest.server_metrics import Reading, between, parse

    bucket = ':tensorflow:serving:request_latency_bucket{model_name="image_classifier",API="predict",entrypoint="REST"'
    text = "\n".join(
        [
            "# HELP :tensorflow:serving:request_count The total number of requests.",
            ':tensorflow:serving:request_count{model_name="image_classifier",status="OK"} 90',
            ':tensorflow:serving:request_count{model_name="image_classifier",status="INVALID_ARGUMENT"} 10',
            ':tensorflow:serving:request_count{model_name="other",status="OK"} 1000',
            f'{bucket},le="1000"}} 50',
            f'{bucket},le="2000"}} 100',
            f'{bucket},le="+Inf"}} 100',
        ]
    )
    later = parse(text, time=110.0, model_name="image_classifier")
    assert later.requests == 100
    earlier = Reading(100.0, 0.0, {})
    view = between({"pod-a": earlier}, {"pod-a": later})
    assert view is not None
    assert view.rps == 10.0
    # 95 of 100 falls 90 % of the way through the 1000-2000 µs bucket.
    assert view.p95_ms == 1.9
    # A pod read only once, or whose counters went back (a restart), gives no rate.
    assert between({}, {"pod-a": later}) is None
    assert between({"pod-a": later}, {"pod-a": earlier}) is None
