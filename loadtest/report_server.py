"""What Locust's master pod runs after the load: it serves its report files until they are fetched.

The reports do not go through the container's log: a kubelet rotates that log at 10 MiB (GKE's default) and
`kubectl logs --follow` can stop at a rotation (kubernetes/kubernetes#115701, still seen in 1.29: #126564),
so a long run's report dump could come back cut. Instead this serves the folder over HTTP, which the user's
machine reads through the API server's pod proxy, with a manifest of sizes and SHA-256 digests so that a
damaged copy is found. It serves for a bounded time, then the pod ends.

    python -m loadtest.report_server --dir /reports --exit-code 0 --port 8089 --linger 900
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

MANIFEST = "manifest.json"
# The line the master's log carries once the reports are served: a hint for the follower, not the channel.
READY_MARK = "=== REPORTS SERVED"


def manifest(folder: Path, exit_code: int) -> dict:
    """Locust's exit status and each report file's size and digest."""
    files = {
        path.name: {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST
    }
    return {"exitCode": exit_code, "files": files}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The log carries Locust's progress; a line per fetched file would only add noise."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.report_server", description="Serve a load test's report folder until it is fetched."
    )
    parser.add_argument("--dir", type=Path, required=True, help="the report folder to serve")
    parser.add_argument("--exit-code", type=int, required=True, help="Locust's exit status, for the manifest")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--linger", type=float, required=True, help="seconds to serve before the pod ends")
    args = parser.parse_args(argv)
    (args.dir / MANIFEST).write_text(json.dumps(manifest(args.dir, args.exit_code)))
    handler = functools.partial(_QuietHandler, directory=str(args.dir))
    with http.server.ThreadingHTTPServer(("", args.port), handler) as server:
        threading.Timer(args.linger, server.shutdown).start()
        print(f"{READY_MARK} on port {args.port} for {args.linger:.0f} s", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
