import pytest

from tests.infra.harness import Deployment, run_program, stack_config


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
