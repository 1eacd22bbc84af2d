"""An in-cluster load test's life on the API server: create its objects, wait for its pods, follow the master,
bring its reports back, delete its namespace. The objects themselves are in incluster_objects.py.

Every call has a deadline: a run ends in bounded time whatever the API server or the master does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.exceptions import HTTPError

from loadtest.incluster_objects import MASTER, InClusterError
from loadtest.incluster_proxy import CONNECT_SECONDS, READ_IDLE_SECONDS, Proxies, api_problem
from loadtest.report_server import READY_MARK

# What the Locust master logs when a worker stops sending heartbeats (locust/runners.py).
LOST_WORKER = re.compile(r"Worker (?P<worker>\S+) failed to send heartbeat, setting state to missing")
# Container states a pod does not recover from by waiting: the run stops at once and says which.
FATAL_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                         "CreateContainerConfigError", "CreateContainerError", "RunContainerError")  # fmt: skip
LOG_TAIL_LINES = 10
POLL_SECONDS = 3


@dataclass(frozen=True)
class MasterResult:
    """What the master reported: Locust's exit status, and the workers it lost during the run."""

    exit_code: int
    lost_workers: tuple[str, ...]


Echo = Callable[[str], None]


class InClusterRun:
    """Creates a run's objects, waits for its pods, follows the master, and deletes everything at the end."""

    def __init__(self, api_client: client.ApiClient, namespace: str, pending_timeout: float) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.proxies = Proxies(api_client, namespace)
        self._pending_timeout = pending_timeout
        # Only a namespace this run made is deleted: one it could not create is not the user's to clean up.
        self.namespace_created = False

    def create(self, objects: list[dict]) -> None:
        for manifest in objects:
            try:
                utils.create_from_dict(self._api_client, manifest, namespace=self.namespace)
            except (ApiException, utils.FailToCreateError) as error:
                raise InClusterError(
                    f"Cannot create {manifest['kind']} {manifest['metadata']['name']} in the cluster: "
                    f"{api_problem(error)}"
                ) from error
            if manifest["kind"] == "Namespace":
                self.namespace_created = True

    def wait_for_pods(self, workers: int, echo: Echo) -> None:
        """Until the master and every worker run; Pending past the timeout is an error that says why."""
        deadline = time.monotonic() + self._pending_timeout
        said = ""
        while True:
            pods = self._pods()
            master = next((pod for pod in pods if pod.metadata and pod.metadata.name == MASTER), None)
            failure = _failure(master) if master is not None else None
            if failure:
                raise InClusterError(f"Locust's master failed: {failure}.{self._last_log_lines()}")
            running = [pod for pod in pods if pod.status and pod.status.phase in ("Running", "Succeeded")]
            if len(running) >= workers + 1:
                return
            waiting = [pod for pod in pods if not pod.status or pod.status.phase == "Pending"]
            status = f"{len(running)} of {workers + 1} Locust pods running"
            if status != said:
                echo(f"{status}; waiting (the load-generator pool starts from 0 nodes: a node takes 1-2 minutes)")
                said = status
            if time.monotonic() > deadline:
                reasons = sorted({self._why_pending(pod) for pod in waiting}) or ["pods were not created"]
                raise InClusterError(
                    f"{len(waiting)} Locust pod(s) still Pending after {self._pending_timeout:.0f} s: "
                    f"{'; '.join(reasons)}. Check the load-generator pool's size (loadGeneratorNodes), the "
                    "project's CPU quota, or ask for fewer --workers."
                )
            time.sleep(2)

    def follow_master(self, report_dir: Path, echo: Echo, within_seconds: float) -> MasterResult:
        """Echo the master's log until its reports are served, then bring them into `report_dir`.

        The log is progress only: it may break, go quiet or be cut by a rotation, and is then followed again
        from where it stopped. The reports come from the master's report server, checked against its manifest.
        """
        deadline = time.monotonic() + within_seconds
        lost: set[str] = set()
        last_line_at: float | None = None
        while True:
            last_line_at = self._echo_log(echo, lost, last_line_at)
            manifest = self.proxies.report_manifest()
            if manifest is not None:
                self.proxies.copy_reports(manifest, report_dir)
                return MasterResult(int(manifest["exitCode"]), tuple(sorted(lost)))
            master = self._master()
            failure = _failure(master) if master is not None else "its pod is gone"
            if failure or (master is not None and master.status and master.status.phase == "Succeeded"):
                raise InClusterError(
                    f"Locust's master ended without serving its reports: {failure or 'it exited'}."
                    f"{self._last_log_lines()}"
                )
            if time.monotonic() > deadline:
                raise InClusterError(
                    f"Locust's master served no reports within {within_seconds / 60:.0f} min, though the load "
                    f"should have ended by then; its pod is {master.status.phase if master and master.status else '?'}"
                    f".{self._last_log_lines()}"
                )
            time.sleep(POLL_SECONDS)

    def _echo_log(self, echo: Echo, lost: set[str], since: float | None) -> float | None:
        """Follow the log until the reports are announced, or it ends, breaks or goes quiet; the last line's time."""
        try:
            response = self._core.read_namespaced_pod_log(
                MASTER,
                self.namespace,
                follow=True,
                _preload_content=False,
                # A log that says nothing for this long is left, and the reports asked for; then it is followed again.
                _request_timeout=(CONNECT_SECONDS, READ_IDLE_SECONDS),
                since_seconds=None if since is None else max(1, int(time.time() - since) + 1),
            )
            for line in iter_resp_lines(response):
                since = time.time()
                if line.startswith(READY_MARK):
                    return since
                if found := LOST_WORKER.search(line):
                    lost.add(found["worker"])
                echo(line)
        except (ApiException, HTTPError, OSError):
            pass  # the reports are what count; they are asked for next
        return since

    def _pods(self) -> list:
        try:
            return self._core.list_namespaced_pod(self.namespace, _request_timeout=(CONNECT_SECONDS, 30)).items
        except (ApiException, HTTPError, OSError) as error:
            raise InClusterError(f"Cannot list the run's pods: {api_problem(error)}") from error

    def _master(self):
        return next((pod for pod in self._pods() if pod.metadata and pod.metadata.name == MASTER), None)

    def _last_log_lines(self) -> str:
        """The master's last words, where the API has any (none for an image that was never pulled)."""
        try:
            text = self._core.read_namespaced_pod_log(
                MASTER, self.namespace, tail_lines=LOG_TAIL_LINES, _request_timeout=(CONNECT_SECONDS, 30)
            )
        except (ApiException, HTTPError, OSError):
            return ""
        lines = [line for line in str(text).splitlines() if line.strip()][-LOG_TAIL_LINES:]
        return "\nIts last log lines:\n" + "\n".join(lines) if lines else ""

    def _why_pending(self, pod) -> str:
        message = ""
        conditions = (pod.status.conditions or []) if pod.status else []
        for condition in conditions:
            if condition.type == "PodScheduled" and condition.status == "False":
                message = f"{condition.reason}: {condition.message}"
        events = self._core.list_namespaced_event(
            self.namespace,
            field_selector=f"involvedObject.name={pod.metadata.name}",
            _request_timeout=(CONNECT_SECONDS, 30),
        ).items
        latest = [event.message for event in events if event.message]
        return "; ".join(part for part in (message, latest[-1] if latest else "") if part) or "no reason given yet"

    def delete(self) -> None:
        if not self.namespace_created:
            return
        try:
            self._core.delete_namespace(
                self.namespace, propagation_policy="Background", _request_timeout=(CONNECT_SECONDS, 30)
            )
        except (ApiException, HTTPError, OSError) as error:
            if isinstance(error, ApiException) and error.status == 404:
                return  # already gone
            raise InClusterError(
                f"Cannot delete namespace {self.namespace} ({api_problem(error)}); delete it with "
                f"`kubectl delete namespace {self.namespace}`."
            ) from error


def _failure(pod) -> str | None:
    """Why this pod will not run Locust (failed, or stuck on an image or a crash), or None while it may."""
    status = pod.status
    if status is None:
        return None
    if status.phase == "Failed":
        detail = ": ".join(part for part in (status.reason, status.message) if part) or "no reason given"
        return f"the pod failed ({detail})"
    for container in status.container_statuses or []:
        waiting = container.state.waiting if container.state else None
        if waiting and waiting.reason in FATAL_WAITING_REASONS:
            return f"{waiting.reason}: {waiting.message or 'no message'}"
        terminated = container.state.terminated if container.state else None
        if terminated and terminated.exit_code:
            return f"Locust exited with status {terminated.exit_code} ({terminated.reason or 'no reason'})"
    return None
