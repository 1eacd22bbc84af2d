"""The policy pack's validators, called as the engine calls them (camelCase properties), without the CLI."""

import copy

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from policy import pack, rules

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource_args(resource_type, props, config=None, name="it"):
    return ResourceValidationArgs(
        resource_type, props, f"urn:pulumi:dev::tfserving-gke::{resource_type}::{name}", name, OPTIONS, None, config
    )


def policy_resource(resource_type, props, name="it"):
    urn = f"urn:pulumi:dev::tfserving-gke::{resource_type}::{name}"
    return PolicyResource(resource_type, props, urn, name, OPTIONS, None, None, [], {})


def violations(validate, args) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, urn=None: found.append(message))
    return found


def declared(deployment, resource_type):
    return copy.deepcopy(deployment.one(resource_type).inputs)


def test_deployment_needs_requests_and_probes(dev):
    good = declared(dev, rules.DEPLOYMENT)
    assert violations(rules.deployment_requests_and_probes, resource_args(rules.DEPLOYMENT, good)) == []
    bad = copy.deepcopy(good)
    container = bad["spec"]["template"]["spec"]["containers"][0]
    del container["resources"]["requests"]["cpu"], container["readinessProbe"]
    del container["livenessProbe"], container["startupProbe"]
    found = violations(rules.deployment_requests_and_probes, resource_args(rules.DEPLOYMENT, bad))
    assert len(found) == 3
    assert "has no cpu request" in found[0] and "Set cpuRequest" in found[0]
    assert "no readinessProbe" in found[1]
    assert "neither a liveness nor a startup probe" in found[2]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("tensorflow/serving:2.8.0", True),
        ("tensorflow/serving@sha256:" + "a" * 64, True),
        ("localhost:5000/serving:1.0", True),
        ("tensorflow/serving", False),
        ("tensorflow/serving:latest", False),
        ("localhost:5000/serving", False),
    ],
)
def test_images_must_be_pinned(dev, image, pinned):
    props = declared(dev, rules.DEPLOYMENT)
    props["spec"]["template"]["spec"]["containers"][0]["image"] = image
    found = violations(rules.images_pinned, resource_args(rules.DEPLOYMENT, props))
    assert (found == []) is pinned
    if not pinned:
        assert "is not pinned" in found[0] and "tensorflow/serving:2.8.0" in found[0]


def test_bucket_must_be_private_and_uniform(dev):
    good = declared(dev, rules.BUCKET)
    assert violations(rules.bucket_private_and_uniform, resource_args(rules.BUCKET, good)) == []
    bad = {**good, "uniformBucketLevelAccess": False, "publicAccessPrevention": "inherited"}
    found = violations(rules.bucket_private_and_uniform, resource_args(rules.BUCKET, bad))
    assert ["uniform bucket-level access" in found[0], "public access prevention" in found[1]] == [True, True]
    public_grant = {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}
    grant_type = "gcp:storage/bucketIAMMember:BucketIAMMember"
    assert (
        "anyone could read it"
        in violations(rules.bucket_private_and_uniform, resource_args(grant_type, public_grant))[0]
    )


def test_load_balancer_ranges_must_not_include_the_world(prod):
    good = declared(prod, rules.SERVICE)
    assert violations(rules.load_balancer_ranges_not_world, resource_args(rules.SERVICE, good)) == []
    bad = copy.deepcopy(good)
    bad["spec"]["loadBalancerSourceRanges"].append("0.0.0.0/0")
    found = violations(rules.load_balancer_ranges_not_world, resource_args(rules.SERVICE, bad))
    assert "include 0.0.0.0/0, which opens it to the world" in found[0]


def test_an_open_load_balancer_is_advised_against(dev, prod):
    assert violations(rules.load_balancer_has_ranges, resource_args(rules.SERVICE, declared(prod, rules.SERVICE))) == []
    found = violations(rules.load_balancer_has_ranges, resource_args(rules.SERVICE, declared(dev, rules.SERVICE)))
    assert "set allowedSourceRanges" in found[0]


def test_cluster_deletion_protection_is_explicit_and_as_configured(dev, prod):
    dev_cluster, prod_cluster = declared(dev, rules.CLUSTER), declared(prod, rules.CLUSTER)
    check = rules.cluster_deletion_protection
    assert violations(check, resource_args(rules.CLUSTER, dev_cluster)) == []
    assert violations(check, resource_args(rules.CLUSTER, dev_cluster, {"deletionProtection": False})) == []
    assert violations(check, resource_args(rules.CLUSTER, prod_cluster, {"deletionProtection": True})) == []
    contradiction = violations(check, resource_args(rules.CLUSTER, prod_cluster, {"deletionProtection": False}))
    assert "is on, but this stack's policy expects it off" in contradiction[0]
    del dev_cluster["deletionProtection"]
    assert "makes `pulumi destroy` fail" in violations(check, resource_args(rules.CLUSTER, dev_cluster))[0]


def stack_args(deployment, replace=None):
    resources = []
    for registered in deployment.resources:
        props = copy.deepcopy(registered.inputs)
        if replace and registered.type in replace:
            replace[registered.type](props)
        resources.append(policy_resource(registered.type, props, registered.name))
    return StackValidationArgs(resources)


def test_hpa_managed_deployment_must_not_set_replicas(dev):
    assert violations(rules.hpa_owns_replicas, stack_args(dev)) == []
    with_replicas = stack_args(dev, {rules.DEPLOYMENT: lambda props: props["spec"].update(replicas=2)})
    found = violations(rules.hpa_owns_replicas, with_replicas)
    assert "sets spec.replicas, but HPA serving-autoscaler owns the replica count" in found[0]


def test_node_pool_must_hold_the_hpa_minimum(dev):
    assert violations(rules.node_pool_holds_hpa_minimum, stack_args(dev)) == []

    def min_four(props):
        props["spec"]["minReplicas"] = 4

    found = violations(rules.node_pool_holds_hpa_minimum, stack_args(dev, {rules.HPA: min_four}))
    assert "holds at most 3 serving pod(s) (3 node(s), 1 per node), below the HPA's minimum of 4" in found[0]


@pytest.mark.parametrize("stack", ["dev", "prod", "gpu"])
def test_the_program_passes_the_whole_pack(stack, request):
    deployment = request.getfixturevalue(stack)
    reported: dict[str, list[str]] = {}
    for policy in pack.POLICIES:
        found: list[str] = []
        report = lambda message, urn=None, found=found: found.append(message)  # noqa: E731
        if isinstance(policy, ResourceValidationPolicy):
            for registered in deployment.resources:
                policy.validate(resource_args(registered.type, registered.inputs, name=registered.name), report)
        else:
            policy.validate(stack_args(deployment), report)
        if found:
            reported[policy.name] = found
    mandatory = {p.name for p in pack.POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY}
    assert not set(reported) & mandatory, reported
    # The lab's open load balancer draws advice on dev; prod names its ranges.
    assert set(reported) == ({"load-balancer-has-ranges"} if stack in ("dev", "gpu") else set())


def test_gpu_pools_need_drivers_and_gpu_pods_need_the_toleration(gpu):
    validate = rules.gpus_have_drivers_and_tolerations
    pool = copy.deepcopy(gpu.named(rules.NODE_POOL, "gke-pool").inputs)
    assert violations(validate, resource_args(rules.NODE_POOL, pool)) == []
    del pool["nodeConfig"]["guestAccelerators"][0]["gpuDriverInstallationConfig"]
    (found,) = violations(validate, resource_args(rules.NODE_POOL, pool))
    assert "lets GKE install no driver" in found

    deployment = declared(gpu, rules.DEPLOYMENT)
    assert violations(validate, resource_args(rules.DEPLOYMENT, deployment)) == []
    pod = deployment["spec"]["template"]["spec"]
    pod["tolerations"] = [t for t in pod["tolerations"] if t["key"] != "nvidia.com/gpu"]
    (found,) = violations(validate, resource_args(rules.DEPLOYMENT, deployment))
    assert "does not tolerate GKE's nvidia.com/gpu taint" in found
