"""What the loopback doubles share: a JSON-answering handler and a server that prints its URL."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Between two bytes of a dripped answer: less than any read timeout the tools use (1 s in the tests).
DRIP_SECONDS = 0.3


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def answer(self, status: int, body: bytes | dict | list) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def drip(self, body: bytes | dict) -> None:
        """A whole, valid answer, one byte at a time: each arrives well within any read timeout."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        for index in range(len(payload)):
            self.wfile.write(payload[index : index + 1])
            self.wfile.flush()
            time.sleep(DRIP_SECONDS)


class LoopbackServer(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when hundreds of users start at once.
    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients hang up mid-answer when a load test stops; that is not the server's problem.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(handler: type[JsonHandler], port: int = 0) -> None:
    """Serve on 127.0.0.1 until interrupted, after printing the URL for whoever started this process."""
    server = LoopbackServer(("127.0.0.1", port), handler)
    host, bound_port = server.server_address[:2]
    print(f"http://{host}:{bound_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
