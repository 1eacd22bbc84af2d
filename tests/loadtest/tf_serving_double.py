"""A loopback HTTP server that speaks TF Serving's REST predict API, for tests and benchmarks.

It answers POST /v1/models/<name>[/versions/<n>]:predict like the serving_preprocess
signature of the lab's model, records what it received (GET /_received lists it),
and can be told to fail a share of requests or to answer with malformed bodies.
It runs as its own process (`python -m tests.loadtest.tf_serving_double`, which
prints its URL), so that neither Locust's gevent patching nor a client's CPU
accounting touches it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field

from tests.loopback import JsonHandler, serve

PREDICT_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+))?:predict$")
LABELS = ["military uniform", "bow tie", "suit", "bearskin", "pickelhaube"]
PROBABILITIES = [0.8, 0.06, 0.05, 0.03, 0.02]


@dataclass(frozen=True)
class Received:
    path: str
    signature: str | None
    image_sha256: list[str]


@dataclass
class Behaviour:
    model_name: str = "image_classifier"
    fail_every: int = 0  # every Nth predict answers 500 with an "error" body
    malformed_every: int = 0  # every Nth predict answers 200 with a body that is not JSON
    error_every: int = 0  # every Nth predict answers 200 with {"error": ...}, as TF Serving may
    reset_every: int = 0  # every Nth predict is read, then the connection is reset (RST), unanswered
    hang_after: int = 0  # every predict after the Nth is read and never answered
    drip_after: int = -1  # every predict after the Nth is answered a byte every DRIP_SECONDS (-1: none)
    answer: str = ""  # a JSON body to answer every predict with instead of a prediction
    predict_status: int = 0  # answer every predict with this HTTP status and an error body
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(JsonHandler):
    behaviour: Behaviour

    def do_GET(self) -> None:
        metadata = re.match(r"^/v1/models/(?P<model>[^/:]+)/metadata$", self.path)
        if metadata:
            found = metadata["model"] == self.behaviour.model_name
            body = {"model_spec": {"name": metadata["model"]}} if found else {"error": "Servable not found"}
            self.answer(200 if found else 404, body)
            return
        if self.path != "/_received":
            self.answer(404, b'{"error": "not found"}')
            return
        with self.behaviour.lock:
            received = [asdict(item) for item in self.behaviour.received]
        self.answer(200, json.dumps(received).encode())

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = PREDICT_PATH.match(self.path)
        if not match or match["model"] != self.behaviour.model_name:
            self.answer(404, json.dumps({"error": f"Servable not found for request: {self.path}"}).encode())
            return
        try:
            request = json.loads(payload)
            instances = request["instances"]
            images = [hashlib.sha256(base64.b64decode(item["b64"])).hexdigest() for item in instances]
        except (ValueError, KeyError, TypeError):
            self.answer(400, b'{"error": "JSON Parse error: Invalid value"}')
            return
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.received.append(Received(self.path, request.get("signature_name"), images))
            count = len(behaviour.received)
        if behaviour.predict_status:
            self.answer(behaviour.predict_status, b'{"error": "No signature named serving_preprocess"}')
        elif behaviour.reset_every and count % behaviour.reset_every == 0:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif behaviour.hang_after and count > behaviour.hang_after:
            time.sleep(3600)
        elif 0 <= behaviour.drip_after < count:
            self.drip(json.dumps({"predictions": [{"labels": LABELS, "probabilities": PROBABILITIES}]}).encode())
        elif behaviour.answer:
            self.answer(200, behaviour.answer.encode())
        elif behaviour.fail_every and count % behaviour.fail_every == 0:
            self.answer(500, b'{"error": "Resource exhausted: OOM when allocating tensor"}')
        elif behaviour.malformed_every and count % behaviour.malformed_every == 0:
            self.answer(200, b"<html>upstream reset</html>")
        elif behaviour.error_every and count % behaviour.error_every == 0:
            self.answer(200, b'{"error": "Expected one or two output Tensors, found 17"}')
        else:
            prediction = {"labels": LABELS, "probabilities": PROBABILITIES}
            self.answer(200, json.dumps({"predictions": [prediction] * len(instances)}).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--fail-every", type=int, default=0, help="every Nth predict answers 500")
    parser.add_argument("--malformed-every", type=int, default=0, help="every Nth predict answers non-JSON")
    parser.add_argument("--error-every", type=int, default=0, help='every Nth predict answers 200 {"error": ...}')
    parser.add_argument("--reset-every", type=int, default=0, help="every Nth predict: connection reset")
    parser.add_argument("--hang-after", type=int, default=0, help="predicts after the Nth are never answered")
    parser.add_argument(
        "--drip-after",
        type=int,
        default=-1,
        help="predicts after the Nth are answered a byte at a time, each within any read timeout",
    )
    parser.add_argument("--answer", default="", help="a JSON body to answer every predict with")
    parser.add_argument("--predict-status", type=int, default=0, help="answer every predict with this status")
    parser.add_argument("--model-name", default=Behaviour.model_name)
    args = parser.parse_args()
    behaviour = Behaviour(
        args.model_name,
        args.fail_every,
        args.malformed_every,
        args.error_every,
        args.reset_every,
        args.hang_after,
        args.drip_after,
        args.answer,
        args.predict_status,
    )
    serve(type("Handler", (_Handler,), {"behaviour": behaviour}), args.port)


if __name__ == "__main__":
    main()
