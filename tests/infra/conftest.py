from collections.abc import Iterator

import pytest

from tests.infra.cluster_double import ClusterDouble
from tests.infra.harness import Deployment, run_program, stack_config


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterDouble]:
    """The cluster a kubeconfig of the existing-cluster stack reaches: empty, unless a test puts objects in it."""
    double = ClusterDouble()
    double.start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def dev() -> Deployment:
    """Stack dev as the CLI would run it, with providers mocked."""
    return run_program(stack_config("dev"))


@pytest.fixture(scope="module")
def prod() -> Deployment:
    """The larger example stack."""
    return run_program(stack_config("prod"), stack="prod")


@pytest.fixture(scope="module")
def gpu() -> Deployment:
    """The T4 example stack."""
    return run_program(stack_config("gpu"), stack="gpu")
