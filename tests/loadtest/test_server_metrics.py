"""loadtest/server_metrics.py: TF Serving's Prometheus counters turned into a rate and a p95."""

from loadtest.server_metrics import Reading, between, parse


def test_server_metrics_give_the_rate_and_the_interpolated_p95():
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
