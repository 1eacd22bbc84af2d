"""One local control plane for the engine tests, started once and stopped by its PIDs however the run ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from localcluster.build import TOOLS, cache_root, is_built
from localcluster.controlplane import ControlPlane
from localcluster.nodes import create_nodes, stack_pools
from tests.engine.pod_network import PodNetwork


@pytest.fixture(scope="session")
def pod_network() -> Iterator[PodNetwork]:
    network = PodNetwork()
    yield network
    network.close()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory, pod_network: PodNetwork) -> Iterator[ControlPlane]:
    missing = [tool.name for tool in TOOLS if not is_built(tool)]
    if missing:
        pytest.fail(
            f"not built in {cache_root()}: {', '.join(missing)}; run `python3 -m localcluster.build` "
            "(tests/engine/run.sh does)",
            pytrace=False,
        )
    with ControlPlane(tmp_path_factory.mktemp("control-plane"), pod_network=pod_network.url) as plane:
        create_nodes(config.new_client_from_config(str(plane.kubeconfig)), stack_pools())
        yield plane


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(str(control_plane.kubeconfig))


@pytest.fixture(scope="session")
def engine_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pulumi's state, plugins and project folders for this run."""
    return tmp_path_factory.mktemp("engine")


@pytest.fixture
def tf_serving_at_the_ingress(pod_network: PodNetwork) -> Iterator[str]:
    """The loopback TF Serving double where kwok's load-balancer stage points the Service, 127.0.0.1:8501, and
    which every serving pod's port 8501 reaches through the pod network."""
    double = subprocess.Popen(
        [sys.executable, "-m", "tests.loadtest.tf_serving_double", "--port", "8501"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert double.stdout is not None
    url = double.stdout.readline().strip()
    if not url:
        double.wait(10)
        pytest.fail("the TF Serving double could not listen on 127.0.0.1:8501 (is the port taken?)", pytrace=False)
    pod_network.routes.update({"v1": 8501, "monitoring": 8501})
    yield url
    pod_network.routes.clear()
    double.terminate()
    double.wait(timeout=10)
