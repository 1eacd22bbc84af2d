"""Every Kubernetes object the program declares is valid for a current Kubernetes, strictly."""

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

KUBERNETES_VERSION = latest_version()


CUSTOM_RESOURCE = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"


def kubernetes_objects(deployment):
    """Every built-in object; custom resources (PodMonitoring) are checked against their own CRD below."""
    return [r for r in deployment.resources if r.type.startswith("kubernetes:") and r.type != CUSTOM_RESOURCE]


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


# The fields of GKE Managed Prometheus' PodMonitoring (monitoring.googleapis.com/v1) that the stack uses,
# as its CRD declares them (GoogleCloudPlatform/prometheus-engine, podmonitoring CRD): strict, so that a
# misspelt or misplaced field fails here as it would on the API server.
POD_MONITORING_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.googleapis.com/v1"},
        "kind": {"const": "PodMonitoring"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "timeout": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("stack", ["dev", "prod", "gpu"])
def test_pod_monitoring_has_its_crds_shape_and_scrapes_the_serving_pods(stack, request):
    import jsonschema

    deployment = request.getfixturevalue(stack)
    monitoring = deployment.one(CUSTOM_RESOURCE).inputs
    jsonschema.validate(monitoring, POD_MONITORING_SCHEMA)
    pods = deployment.named("kubernetes:apps/v1:Deployment", "serving-deployment").inputs["spec"]["template"]
    assert monitoring["spec"]["selector"]["matchLabels"].items() <= pods["metadata"]["labels"].items()
    (endpoint,) = monitoring["spec"]["endpoints"]
    port_names = {port["name"] for port in pods["spec"]["containers"][0]["ports"]}
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/monitoring/prometheus/metrics"


def test_the_pod_monitoring_schema_rejects_a_misplaced_field(dev):
    import jsonschema

    monitoring = dev.one(CUSTOM_RESOURCE).inputs
    broken = {**monitoring, "spec": {**monitoring["spec"], "interval": "15s"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, POD_MONITORING_SCHEMA)
