"""Every Kubernetes object the program declares is valid for a current Kubernetes, strictly."""

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

KUBERNETES_VERSION = latest_version()


def kubernetes_objects(deployment):
    return [resource for resource in deployment.resources if resource.type.startswith("kubernetes:")]


@pytest.mark.parametrize("stack", ["dev", "prod", "gpu"])
def test_objects_validate_against_the_strict_schema(stack, request):
    deployment = request.getfixturevalue(stack)
    objects = kubernetes_objects(deployment)
    assert objects, "the program declares Kubernetes objects"
    for resource in objects:
        kubernetes_validate.validate(resource.inputs, KUBERNETES_VERSION, strict=True)


def test_the_strict_schema_rejects_a_misplaced_field(dev):
    """The check above can fail: a field in the wrong place is an error, not ignored."""
    deployment = next(resource for resource in kubernetes_objects(dev) if resource.type.endswith(":Deployment"))
    broken = {**deployment.inputs, "spec": {**deployment.inputs["spec"], "cpuRequest": "3"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
