"""The policy tests run the stacks as tests/infra does: the same module-scoped mocked deployments."""

from tests.infra.conftest import dev, gpu, prod  # noqa: F401 - fixtures shared with tests/infra
