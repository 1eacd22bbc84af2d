"""loadtest/model_api.py: the lab's request body, the predict path, and what counts as a failed answer."""

import base64
import hashlib
import json

import pytest

from loadtest import model_api


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
