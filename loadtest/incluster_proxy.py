"""What an in-cluster run asks through the API server's proxies: the master's reports (pod proxy) and a
prediction from the Service the pods load (service proxy); and API errors in one line.

Every call has a deadline: a proxy that drips or never answers ends the call, not the run's bound.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from loadtest.deadline import Deadline, DeadlineError
from loadtest.incluster_objects import MASTER, REPORT_PORT, InClusterError, LoadGenerator
from loadtest.report_server import MANIFEST
from loadtest.target import CHECK_TIMEOUT_SECONDS

CONNECT_SECONDS = 10
# A read that waits this long for its next bytes is given up.
READ_IDLE_SECONDS = 60
# One report file through the pod proxy, whole; the HTML of an hours-long run is a few MB.
FETCH_DEADLINE_SECONDS = 300


class Proxies:
    """The API server's pod and service proxies, as one run's namespace sees them."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def report_manifest(self) -> dict | None:
        """The master's report manifest, or None while it serves none (the load still runs)."""
        try:
            return json.loads(self._fetch(MANIFEST))
        except InClusterError as error:
            if isinstance(error.__cause__, ApiException) and error.__cause__.status in (401, 403):
                raise InClusterError(f"{error}; the reports need `get` on pods/proxy in the run's namespace") from error
            return None  # not served yet: the proxy answers 503 while nothing listens on the port
        except ValueError:
            return None

    def copy_reports(self, manifest: dict, report_dir: Path) -> None:
        """Every file the manifest lists into `report_dir`, each checked against its size and digest."""
        damaged = []
        for name, expected in manifest["files"].items():
            content = self._fetch(name)
            if len(content) != expected["bytes"] or hashlib.sha256(content).hexdigest() != expected["sha256"]:
                damaged.append(f"{name} ({len(content)} of {expected['bytes']} bytes, or a different digest)")
                continue
            (report_dir / Path(name).name).write_bytes(content)
        if damaged:
            raise InClusterError(f"Report file(s) came back damaged: {', '.join(damaged)}")

    def _fetch(self, name: str) -> bytes:
        """One file the master serves, through the API server's pod proxy, whole within its deadline."""
        deadline: Deadline[bytes] = Deadline(FETCH_DEADLINE_SECONDS)
        try:
            return deadline.call(lambda: self._proxied_get(name))
        except (ApiException, HTTPError, OSError, DeadlineError) as error:
            raise InClusterError(f"Cannot fetch report {name} from Locust's master: {api_problem(error)}") from error

    def _proxied_get(self, name: str) -> bytes:
        response = self._core.connect_get_namespaced_pod_proxy_with_path(
            f"{MASTER}:{REPORT_PORT}",
            self.namespace,
            name,
            _preload_content=False,
            _request_timeout=(CONNECT_SECONDS, READ_IDLE_SECONDS),
        )
        return response.data  # type: ignore[attr-defined] - with _preload_content=False, urllib3's response

    def predict_through_service(self, generator: LoadGenerator, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a prediction to the Service the pods will load, through the API server's service proxy.

        That is the in-cluster address: the load balancer's source ranges, which may exclude this machine, do not
        apply. The status and body are TF Serving's, or the proxy's when no pod answers.
        """
        proxy = f"/api/v1/namespaces/{generator.namespace}/services/{generator.service}:{generator.port}/proxy{path}"
        deadline: Deadline[tuple[int, bytes]] = Deadline(CHECK_TIMEOUT_SECONDS)

        def post() -> tuple[int, bytes]:
            request = self._api_client.param_serialize(
                "POST",
                proxy,
                header_params={"Content-Type": "application/json"},
                body=json.loads(body),
                auth_settings=["BearerToken"],
            )
            response = self._api_client.call_api(*request, _request_timeout=(CONNECT_SECONDS, CHECK_TIMEOUT_SECONDS))
            content = response.read() or b""
            if response.status in (401, 403):
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            return response.status, content

        try:
            return deadline.call(post)
        except (ApiException, HTTPError, OSError, DeadlineError) as error:
            raise InClusterError(
                f"Cannot predict through the API server's proxy to Service {generator.namespace}/"
                f"{generator.service}: {api_problem(error)}"
                + ("; the account needs `create` on services/proxy" if isinstance(error, ApiException) else "")
            ) from error


def api_problem(error: Exception) -> str:
    """The status, and the API server's own message where its answer carries one (a Status object)."""
    if isinstance(error, utils.FailToCreateError) and error.api_exceptions:
        error = error.api_exceptions[0]
    if isinstance(error, ApiException):
        try:
            detail = str(json.loads(error.body or "{}").get("message", ""))
        except (ValueError, AttributeError):
            detail = ""
        return f"HTTP {error.status} {error.reason}" + (f": {detail[:200]}" if detail else "")
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
