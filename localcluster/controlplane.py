"""A Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

Every process listens on an ephemeral loopback port, writes its log under the run folder, and is stopped by
its own PID: on `stop()`, on leaving the `with` block, and when a start fails half-way. Nothing else of the
machine is touched. Nodes are simulated by kwok (stages.py); see nodes.py for their shape.
"""

from __future__ import annotations

import base64
import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import config

from localcluster import metrics_pipeline
from localcluster.build import binary_path
from localcluster.metrics_pipeline import kwok_metrics_config, metrics_server_args
from localcluster.pki import client_ca, front_proxy, front_proxy_flags, service_account_key
from localcluster.processes import Component, ControlPlaneError, free_port, tail
from localcluster.stages import write_stages

# Nodes kwok plays carry this annotation; kwok leaves every other node alone.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_VALUE = "fake"
SERVICE_CIDR = "10.96.0.0/16"
ADMIN_USER = "localcluster-admin"


@dataclass
class ControlPlane:
    """Start with `with ControlPlane(folder) as plane:`; `plane.kubeconfig` is the admin kubeconfig."""

    root: Path
    start_timeout_s: float = 120.0
    # Nodes and pods become Ready when their READY_AT says (the rehearsal), not at once (stages.py).
    timed: bool = False
    # The resource-metrics pipeline (metrics_pipeline.py): kwok's usage emulation, metrics-server, metrics.k8s.io.
    metrics: bool = False
    # kube-controller-manager flags beyond its defaults.
    controller_flags: tuple[str, ...] = ()
    # An HTTP proxy that plays the pod network for the API server's pod and service proxy (a test's double);
    # by default nothing does, and a proxied request fails at once.
    pod_network: str = "http://127.0.0.1:1"
    components: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.logs = self.root / "logs"
        self.kubeconfig = self.root / "kubeconfig.yaml"
        self.token = secrets.token_hex(16)
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            self._write_credentials()
            self._launch("etcd", self._etcd_args())
            self._wait(f"http://127.0.0.1:{self.etcd_port}/health", "etcd", deadline, secure=False)
            self._launch("kube-apiserver", self._apiserver_args(), env=_pod_network_through(self.pod_network))
            self._wait(f"{self.server}/readyz", "kube-apiserver", deadline)
            self._write_kubeconfig()
            self._launch("kube-controller-manager", self._controller_manager_args())
            scheduler_port = free_port()
            self._launch("kube-scheduler", self._scheduler_args(scheduler_port))
            self._wait(f"https://127.0.0.1:{scheduler_port}/healthz", "kube-scheduler", deadline, token=False)
            self._launch("kwok", self._kwok_args())
            # The controller manager serves no port here: its service-account controller creating the
            # `default` account is the sign that its controllers run.
            self._wait(
                f"{self.server}/api/v1/namespaces/default/serviceaccounts/default", "kube-controller-manager", deadline
            )
            if self.metrics:
                self._start_metrics_server(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component this control plane started, newest first, each by its own PID."""
        for component in reversed(self.components):
            component.stop()
        self.components.clear()

    def pids(self) -> set[int]:
        """The process IDs of the components running now."""
        return {c.process.pid for c in self.components if c.process is not None}

    def check_alive(self) -> None:
        for component in self.components:
            component.check_alive()

    # -- helpers -----------------------------------------------------------------------------------------------
    def _launch(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        binary = binary_path(name)
        if not binary.exists():
            raise ControlPlaneError(f"{name} is not built ({binary}); run `python3 -m localcluster.build` first.")
        component = Component(name, [str(binary), *args], self.logs / f"{name}.log", env)
        self.components.append(component)
        component.start()

    def _wait(self, url: str, name: str, deadline: float, secure: bool = True, token: bool = True) -> None:
        """Poll `url` until it answers 200, the component dies, or the start deadline passes."""
        context = ssl._create_unverified_context() if secure else None  # self-signed loopback certificates
        headers = {"Authorization": f"Bearer {self.token}"} if token and secure else {}
        last = "no answer yet"
        while True:
            self.check_alive()
            try:
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=2, context=context) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}"
            except (OSError, ssl.SSLError) as err:
                last = str(err)
            if time.monotonic() > deadline:
                component = next(c for c in self.components if c.name == name)
                raise ControlPlaneError(
                    f"{name} was not ready within {self.start_timeout_s:g}s ({url}: {last}); "
                    f"last lines of {component.log}:\n{tail(component.log)}"
                )
            time.sleep(0.25)

    def _start_metrics_server(self, deadline: float) -> None:
        port = free_port()
        self._launch("metrics-server", metrics_server_args(self.kubeconfig, port, self.root / "metrics-server-certs"))
        api = config.new_client_from_config(str(self.kubeconfig))
        metrics_pipeline.register(api, port)
        metrics_pipeline.wait_available(api, deadline, self.check_alive)

    def _write_credentials(self) -> None:
        pki = self.root / "pki"
        pki.mkdir(exist_ok=True)
        self.service_account_key = service_account_key(pki)
        self.client_ca = client_ca(pki)
        self.front_proxy = front_proxy(pki) if self.metrics else None
        # A static token in group system:masters: the only identity this control plane knows.
        self.token_file = pki / "tokens.csv"
        self.token_file.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        self.token_file.chmod(0o600)

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "localcluster",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": self._serving_ca(),
                    },
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": "localcluster", "context": {"cluster": "localcluster", "user": ADMIN_USER}}],
            "current-context": "localcluster",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _serving_ca(self) -> str:
        """The API server's self-signed bundle (its certificate and the CA that signed it), base64 for kubeconfig."""
        bundle = (self.root / "apiserver-certs" / "apiserver.crt").read_bytes()
        return base64.b64encode(bundle).decode()

    # -- flags ---------------------------------------------------------------------------------------------------
    def _etcd_args(self) -> list[str]:
        self.etcd_port, peer = free_port(), free_port()
        client, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer}"
        return [
            "--name=localcluster",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=localcluster={peer_url}",
            # A throw-away store: durability would only slow the tests down.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        key = self.service_account_key
        return [
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--cert-dir={self.root / 'apiserver-certs'}",
            f"--token-auth-file={self.token_file}",
            "--authorization-mode=RBAC",
            # As on GKE: privileged pods are valid, and only admission (Pod Security) refuses them.
            "--allow-privileged=true",
            f"--client-ca-file={self.client_ca}",
            *(front_proxy_flags(self.front_proxy) if self.front_proxy else []),
            f"--service-account-key-file={key}",
            f"--service-account-signing-key-file={key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # No kubelet registers this address as an endpoint of `kubernetes`; don't try to.
            "--endpoint-reconciler-type=none",
            "--advertise-address=127.0.0.1",
            # Logs, exec and port-forward go to a node's InternalIP (kwok's server on 127.0.0.1), never to
            # its name, which no resolver knows.
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _component_kubeconfig_args(self) -> list[str]:
        config = str(self.kubeconfig)
        return [
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--leader-elect=false",
        ]

    def _controller_manager_args(self) -> list[str]:
        return [
            *self._component_kubeconfig_args(),
            "--secure-port=0",
            f"--service-account-private-key-file={self.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Each controller as its own service account, as on a real cluster (RBAC is live).
            "--use-service-account-credentials=true",
            *self.controller_flags,
        ]

    def _scheduler_args(self, port: int) -> list[str]:
        return [
            *self._component_kubeconfig_args(),
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.root / 'scheduler-certs'}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez",
        ]

    def _kwok_args(self) -> list[str]:
        # The port the nodes advertise as their kubelet's: the API server's log requests end at kwok.
        kwok_port = free_port()
        stages = write_stages(
            self.root / "kwok-config.yaml", timed=self.timed, extra=kwok_metrics_config() if self.metrics else []
        )
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
            "--node-ip=127.0.0.1",
            f"--node-port={kwok_port}",
            f"--server-address=127.0.0.1:{kwok_port}",
        ]


def _pod_network_through(proxy: str) -> dict[str, str]:
    """The API server's environment: its pod and service proxy goes through `proxy`, so no packet ever goes to a
    simulated pod's address (kwok hands out 10.0.0.0/24, which is no pod of ours). The proxy transport honours
    these variables (k8s.io/apimachinery SetOldTransportDefaults); loopback (etcd, kwok, the metrics server) is
    exempt.
    """
    return {
        **os.environ,
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
