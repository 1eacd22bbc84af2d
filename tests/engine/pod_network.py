"""A stand-in for the pod network: an HTTP proxy that the local API server's pod and service proxy goes through.

kwok's pods run nothing, so this proxy hands each request to a loopback double chosen by the path's first
segment (TF Serving's `/v1/` and `/monitoring/`, Locust's report files), and answers 502 where none is set, as an
unreachable pod would. The path decides because the request line the API server sends to its proxy names the
proxy's own address, not the pod's (seen with kube-apiserver v1.36).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class PodNetwork:
    """`routes` maps a path's first segment ("" for a file at the root) to the loopback port of the double that
    plays it; change it at any time."""

    def __init__(self) -> None:
        self.routes: dict[str, int] = {}
        self.requests: list[str] = []
        network = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self) -> None:
                self.relay()

            def do_POST(self) -> None:
                self.relay()

            def relay(self) -> None:
                target = urlsplit(self.path)
                network.requests.append(f"{self.command} {target.path}")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                segments = target.path.lstrip("/").split("/")
                port = network.routes.get(segments[0] if len(segments) > 1 else "")
                if port is None:
                    self.send_error(502, f"no pod serves {target.path}")
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body=body or None, headers=dict(self.headers))
                answer = upstream.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
