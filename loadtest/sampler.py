"""One sample of the serving system's scaling, read through the Kubernetes API: the HPA, the Deployment, its pods,
the serving pool's nodes and TF Serving's own metrics, each read bounded, the whole sample within a deadline."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from loadtest import server_metrics
from loadtest.deadline import Deadline, DeadlineError
from loadtest.timeline import Sample

NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
# A whole sample (five reads and the pod proxies) may take this many read timeouts before it is given up.
SAMPLE_DEADLINE_READS = 3

log = logging.getLogger("loadtest.watch")


class WatchError(RuntimeError):
    """The cluster cannot be watched: the message names the object, the reason and the fix."""


class SampleError(WatchError):
    """One sample failed; the message says what was being read and why, in one line."""


@dataclass(frozen=True)
class WatchTarget:
    namespace: str
    deployment: str
    hpa: str
    node_pool: str
    model_name: str
    # Where the namespace came from, for the hint when an object is not found there.
    namespace_origin: str = "--namespace"


class ClusterSampler:
    """Reads one Sample of the serving objects through the Kubernetes API."""

    def __init__(self, api_client: client.ApiClient, target: WatchTarget, timeout: float) -> None:
        # One attempt per call: a failed sample is reported once and the next one comes at the next interval.
        # The REST client reads `retries` when it is built, so it is built again.
        api_client.configuration.retries = False
        api_client.rest_client = rest.RESTClientObject(api_client.configuration)
        self.target = target
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._timeout = timeout
        # The last reading of each serving pod's metrics; None once the cluster refused them (said once).
        self._readings: dict[str, server_metrics.Reading] | None = {}
        self._deadline: Deadline[Sample] = Deadline(timeout * SAMPLE_DEADLINE_READS)

    def _read(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as error:
            raise SampleError(self._api_problem(what, error)) from error
        except (HTTPError, OSError) as error:
            raise SampleError(f"reading the {what} failed: {_connection_problem(error, self._timeout)}") from error
        except (ValueError, TypeError, AttributeError) as error:
            problem = "the API server's answer was not a Kubernetes object"
            raise SampleError(f"reading the {what} failed: {problem}") from error

    def _api_problem(self, what: str, error: ApiException) -> str:
        target = self.target
        if error.status == 404:
            return (
                f"{what} not found (HTTP 404); pass --namespace (now {target.namespace!r}, from "
                f"{target.namespace_origin}) or --deployment/--hpa with the names the stack uses"
            )
        if error.status == 401:
            return (
                f"the cluster refused the credentials when reading the {what} (HTTP 401); for GKE, install "
                "gke-gcloud-auth-plugin and run `gcloud auth login`, then try again"
            )
        if error.status == 403:
            return (
                f"the credentials may not read the {what} (HTTP 403 Forbidden); the watcher needs get on "
                "horizontalpodautoscalers and deployments and list on pods in the namespace, and list on nodes "
                "(e.g. roles/container.viewer)"
            )
        return f"reading the {what} failed: HTTP {error.status} {error.reason}"

    def sample(self) -> Sample:
        """One sample, or a SampleError once SAMPLE_DEADLINE_READS read timeouts have passed without a whole one.

        Each read has its timeout, but a server that answers byte by byte never lets one expire: only a deadline
        for the whole sample bounds it. A sample given up is left to finish on its own; no other starts until
        it has, so that two never read the cluster at once (loadtest/deadline.py).
        """
        try:
            return self._deadline.call(self._take_sample)
        except DeadlineError as error:
            raise SampleError(f"the Kubernetes API gave {error}; sample given up") from error

    def _take_sample(self) -> Sample:
        target = self.target
        now = time.time()
        where = f"{target.namespace}/"
        hpa = self._read(
            f"HorizontalPodAutoscaler {where}{target.hpa}",
            self._autoscaling.read_namespaced_horizontal_pod_autoscaler,
            target.hpa,
            target.namespace,
        )
        deployment = self._read(
            f"Deployment {where}{target.deployment}",
            self._apps.read_namespaced_deployment,
            target.deployment,
            target.namespace,
        )
        selector = ",".join(f"{key}={value}" for key, value in (deployment.spec.selector.match_labels or {}).items())
        pods = self._read(
            f"pods of {where}{target.deployment}",
            self._core.list_namespaced_pod,
            target.namespace,
            label_selector=selector,
        ).items
        # No pool (a cluster without the stack's pools): every node counts.
        nodes = self._read(
            f"nodes of node pool {target.node_pool}" if target.node_pool else "nodes",
            self._core.list_node,
            label_selector=f"{NODE_POOL_LABEL}={target.node_pool}" if target.node_pool else "",
        ).items
        server = self._server_view([pod.metadata.name for pod in pods if _is_running_ready(pod)], now)
        phases = Counter(pod.status.phase if pod.status else "Unknown" for pod in pods)
        reasons = Counter(_pending_reason(pod) for pod in pods if pod.status and pod.status.phase == "Pending")
        hpa_status = hpa.status or client.V2HorizontalPodAutoscalerStatus(desired_replicas=0)
        return Sample(
            time=now,
            hpa_current_replicas=hpa_status.current_replicas or 0,
            hpa_desired_replicas=hpa_status.desired_replicas or 0,
            hpa_cpu_utilization_percent=_cpu_utilization(hpa_status),
            hpa_cpu_target_percent=_cpu_target(hpa.spec),
            ready_replicas=(deployment.status.ready_replicas if deployment.status else 0) or 0,
            running_pods=phases["Running"],
            pending_pods=phases["Pending"],
            pending_reasons=";".join(f"{reason}:{count}" for reason, count in sorted(reasons.items())),
            nodes=len(nodes),
            ready_nodes=sum(1 for node in nodes if _is_ready(node)),
            server_rps=None if server is None else round(server.rps, 2),
            server_p95_ms=None if server is None or server.p95_ms is None else round(server.p95_ms, 1),
        )

    def _server_view(self, pods: list[str], now: float) -> server_metrics.ServerView | None:
        """TF Serving's own rate and p95 since the last sample, read through the API server's pod proxy."""
        if self._readings is None:
            return None
        readings: dict[str, server_metrics.Reading] = {}
        for pod in pods:
            try:
                text = self._core.connect_get_namespaced_pod_proxy_with_path(
                    f"{pod}:{server_metrics.REST_PORT}",
                    self.target.namespace,
                    server_metrics.METRICS_PATH.lstrip("/"),
                    _request_timeout=self._timeout,
                )
            except ApiException as error:
                if error.status in (401, 403):
                    log.warning(
                        "TF Serving's metrics cannot be read through the pod proxy (HTTP %s): "
                        "the chart shows the client's view only",
                        error.status,
                    )
                    self._readings = None
                    return None
                continue  # a pod that is starting or stopping; the others still count
            except (HTTPError, OSError, ValueError):
                continue
            readings[pod] = server_metrics.parse(str(text), now, self.target.model_name)
        view = server_metrics.between(self._readings, readings)
        self._readings = readings
        return view


def _cpu_utilization(status: client.V2HorizontalPodAutoscalerStatus) -> int | None:
    for metric in status.current_metrics or []:
        if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
            return metric.resource.current.average_utilization
    return None


def _cpu_target(spec) -> int | None:
    for metric in (spec.metrics if spec else None) or []:
        if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
            return metric.resource.target.average_utilization
    return None


def _connection_problem(error: Exception, timeout: float) -> str:
    """One phrase for a failed connection, however urllib3 wrapped it."""
    reason = error.reason if isinstance(error, MaxRetryError) and error.reason else error
    if isinstance(reason, ReadTimeoutError) or "timed out" in str(reason).lower():
        return f"no answer within {timeout:g} s"
    if isinstance(reason, NewConnectionError) or "refused" in str(reason).lower():
        return "connection refused"
    if isinstance(reason, ProtocolError):
        return "the connection broke"
    return str(reason).splitlines()[0][:160] or type(reason).__name__


def first_sample(sampler: ClusterSampler) -> Sample:
    """The first sample, taken before any load: if it fails, nothing is started."""
    try:
        return sampler.sample()
    except SampleError as error:
        raise WatchError(f"Cannot watch the cluster: {error}.") from error


def _pending_reason(pod) -> str:
    """Why a pod is Pending: not scheduled (Unschedulable: no node has room), or a container still waiting."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return condition.reason or "NotScheduled"
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting and status.state.waiting.reason:
            return status.state.waiting.reason
    return "Pending"


def _is_running_ready(pod) -> bool:
    status = pod.status
    return bool(
        status
        and status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
    )


def _is_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
