"""TF Serving's REST predict API as the lab uses it: the request body and what counts as an answer."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

DEFAULT_MODEL_NAME = "image_classifier"
DEFAULT_MODEL_VERSION = "1"
DEFAULT_SIGNATURE = "serving_preprocess"
DEFAULT_IMAGE_NAME = "grace_hopper.jpg"

_IMAGE_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


class ImageError(ValueError):
    """The image to send is missing or not a JPEG or PNG."""


class AnswerError(ValueError):
    """A prediction came back, but not in the shape of the serving_preprocess signature's answer."""


def default_image() -> bytes:
    """The lab's Grace Hopper photo; matplotlib ships the byte-identical file as sample data.

    The file is found where `matplotlib.cbook.get_sample_data` finds it, without importing
    matplotlib (and numpy), which would double the load generator's start-up.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise ImageError("matplotlib is not installed, and it carries the lab's image; install requirements.txt.")
    return (Path(spec.origin).parent / "mpl-data" / "sample_data" / DEFAULT_IMAGE_NAME).read_bytes()


def load_image(path: str | None) -> bytes:
    """The bytes of the JPEG or PNG at `path`, or the lab's image when no path is given."""
    if path is None:
        return default_image()
    file = Path(path).expanduser()
    if not file.is_file():
        raise ImageError(f"--image {path}: no such file; give a JPEG or PNG.")
    image = file.read_bytes()
    if not any(image.startswith(magic) for magic in _IMAGE_MAGIC):
        raise ImageError(
            f"--image {path}: not a JPEG or PNG file; the serving_preprocess signature decodes only those."
        )
    return image


def predict_path(model_name: str = DEFAULT_MODEL_NAME, version: str | None = DEFAULT_MODEL_VERSION) -> str:
    """`/v1/models/<name>[/versions/<n>]:predict`; no version means the latest the server has."""
    versioned = f"/versions/{version}" if version else ""
    return f"/v1/models/{model_name}{versioned}:predict"


def predict_body(image: bytes, signature: str = DEFAULT_SIGNATURE) -> bytes:
    """The request body, formatted as the lab's request-body.json (81,812 bytes for the default image)."""
    instances = [{"b64": base64.b64encode(image).decode("ascii")}]
    return json.dumps({"signature_name": signature, "instances": instances}).encode()


def prediction_failure(status: int, body: bytes | str | None, instances: int = 1) -> str | None:
    """Why a response is not a prediction, or None when it is one.

    Failures: a status other than 200, a body that is not JSON, a body carrying
    "error" (TF Serving's way to report a problem), or fewer predictions than instances.
    """
    if status != 200:
        message = _error_message(body)
        return f"HTTP {status}: {message}" if message else f"HTTP {status}"
    try:
        answer = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON"
    if not isinstance(answer, dict):
        return "body is not a JSON object"
    if "error" in answer:
        return f"error: {answer['error']}"
    predictions = answer.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != instances:
        found = len(predictions) if isinstance(predictions, list) else 0
        return f"expected {instances} prediction(s), got {found}"
    return None


def _error_message(body: bytes | str | None) -> str:
    try:
        answer = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(answer.get("error", "")) if isinstance(answer, dict) else ""


def top_labels(answer: dict) -> list[tuple[str, float]]:
    """The labels and probabilities of the first prediction, most likely first; AnswerError names what is amiss."""
    predictions = answer.get("predictions")
    prediction = predictions[0] if isinstance(predictions, list) and predictions else None
    if not isinstance(prediction, dict):
        raise AnswerError(
            f"the prediction is {json.dumps(prediction)[:80]}, not an object with labels and probabilities; "
            "is --signature the model's serving_preprocess signature?"
        )
    labels, probabilities = prediction.get("labels"), prediction.get("probabilities")
    if not isinstance(labels, list) or not isinstance(probabilities, list):
        raise AnswerError(f"the prediction has no labels and probabilities lists, only {sorted(prediction)}")
    if len(labels) != len(probabilities):
        raise AnswerError(f"the prediction has {len(labels)} labels but {len(probabilities)} probabilities")
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in probabilities):
        raise AnswerError("the prediction's probabilities are not all numbers")
    pairs = zip(labels, probabilities, strict=True)
    return sorted(((str(label), float(p)) for label, p in pairs), key=lambda pair: pair[1], reverse=True)
