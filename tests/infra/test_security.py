"""Secure by default: hardened pods, least-privilege identities, a hardened cluster."""

import pytest

from tests.infra.harness import run_program, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)


def pod_spec(deployment):
    return deployment.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_serving_pods_meet_the_restricted_pod_security_standard(dev):
    spec = pod_spec(dev)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # The only writable place is an emptyDir at /tmp, beside TF Serving's read-only config files; no volume type
    # the standard forbids.
    assert spec["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "server-config", "configMap": {"name": spec["volumes"][1]["configMap"]["name"]}},
    ]
    assert spec["volumes"][1]["configMap"]["name"].startswith("tfserving-server-config-")
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "server-config", "mountPath": "/etc/tfserving", "readOnly": True},
    ]


def test_no_api_token_is_mounted_and_memory_is_limited_but_cpu_is_not(dev):
    spec = pod_spec(dev)
    assert spec["automountServiceAccountToken"] is False
    for account in dev.of_type("kubernetes:core/v1:ServiceAccount"):
        assert account.inputs["automountServiceAccountToken"] is False, account.name
    (container,) = spec["containers"]
    assert container["resources"]["limits"] == {"memory": "4Gi", "ephemeral-storage": "2Gi"}
    assert container["imagePullPolicy"] == "IfNotPresent"


def test_serving_namespace_enforces_the_restricted_standard(dev):
    namespace = dev.one("kubernetes:core/v1:Namespace").inputs["metadata"]
    assert namespace["name"] == "tfserving"
    for mode in ("enforce", "audit", "warn"):
        assert namespace["labels"][f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_every_kubernetes_object_carries_the_recommended_labels(dev):
    objects = [resource for resource in dev.resources if resource.type.startswith("kubernetes:")]
    for resource in objects:
        labels = resource.inputs["metadata"]["labels"]
        assert all(key in labels for key in RECOMMENDED), resource.name
        assert labels["app.kubernetes.io/instance"] == "dev"
        assert labels["app.kubernetes.io/part-of"] == "tfserving-gke"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    template = dev.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert all(key in template for key in RECOMMENDED)


GOOGLE_APIS = [
    {"ports": [{"port": 53, "protocol": "UDP"}]},
    {"ports": [{"port": 53, "protocol": "TCP"}]},
    {"ports": [{"port": 443, "protocol": "TCP"}]},
    {"ports": [{"port": 80, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]},
    {"ports": [{"port": 988, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}]},
]


def test_network_policy_admits_only_the_serving_ports_and_lets_out_only_what_reading_the_model_takes(dev):
    policy = dev.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "serving-network-policy").inputs["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app": "image-classifier"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": 8500, "protocol": "TCP"}, {"port": 8501, "protocol": "TCP"}]}]
    assert policy["egress"] == GOOGLE_APIS
    assert dev.one("gcp:container/cluster:Cluster").inputs["datapathProvider"] == "ADVANCED_DATAPATH"


def test_disruption_budget_keeps_one_serving_without_blocking_scale_down(dev):
    budget = dev.one("kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]
    assert budget["selector"] == {"matchLabels": {"app": "image-classifier"}}
    assert budget["maxUnavailable"] == 1, "minAvailable would forbid evicting a lone replica"
    assert "minAvailable" not in budget
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_checkov_skips_carry_their_reasons(dev):
    annotations = dev.one(DEPLOYMENT).inputs["metadata"]["annotations"]
    skips = dict(value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip"))
    assert set(skips) == {"CKV_K8S_11", "CKV_K8S_15", "CKV_K8S_43"}
    assert all(len(reason) > 30 for reason in skips.values())


def test_a_digest_pinned_image_needs_no_digest_skip():
    image = "tensorflow/serving@sha256:" + "0" * 64
    deployment = run_program(stack_config("dev", image=image))
    annotations = deployment.one(DEPLOYMENT).inputs["metadata"]["annotations"]
    assert not any(value.startswith("CKV_K8S_43=") for value in annotations.values())


def test_nodes_are_shielded_repaired_upgraded_and_without_legacy_metadata(dev):
    cluster = dev.one("gcp:container/cluster:Cluster").inputs
    assert cluster["enableShieldedNodes"] is True
    assert "privateClusterConfig" not in cluster, "private nodes are opt-in"
    assert "masterAuthorizedNetworksConfig" not in cluster
    pool = dev.named("gcp:container/nodePool:NodePool", "gke-pool").inputs
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    node_config = pool["nodeConfig"]
    assert node_config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert node_config["metadata"] == {"disable-legacy-endpoints": "true"}


def test_private_nodes_get_a_nat_and_the_control_plane_can_be_closed():
    deployment = run_program(stack_config("dev", privateNodes=True, controlPlaneAuthorizedNetworks=["203.0.113.7/32"]))
    cluster = deployment.one("gcp:container/cluster:Cluster").inputs
    assert cluster["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    assert cluster["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [{"cidrBlock": "203.0.113.7/32"}]}
    nat = deployment.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["region"] == "us-central1"
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    for pool in deployment.of_type("gcp:container/nodePool:NodePool"):
        assert nat.urn in pool.dependencies, pool.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_owner_or_editor_roles_and_no_key_files(stack, request):
    deployment = request.getfixturevalue(stack)
    roles = [resource.inputs["role"] for resource in deployment.resources if "role" in resource.inputs]
    assert roles, "the stack grants roles"
    assert not {"roles/owner", "roles/editor"} & set(roles)
    assert not any(resource.type == "gcp:serviceaccount/key:Key" for resource in deployment.resources)
    public = [r for r in deployment.resources if str(r.inputs.get("member", "")).startswith("all")]
    assert public == [], "nothing is granted to allUsers or allAuthenticatedUsers"


@pytest.mark.parametrize("stack", ["dev", "prod", "gpu"])
def test_every_pod_has_an_egress_policy_and_every_container_its_disk(stack):
    """What an outside linter asks of each pod: a NetworkPolicy that controls its egress, and ephemeral-storage
    requested and limited on each container, so that a node under disk pressure evicts in a known order."""
    deployment = run_program(stack_config(stack), stack=stack)
    policies = [
        p.inputs["spec"]
        for p in deployment.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if "Egress" in p.inputs["spec"]["policyTypes"]
    ]
    workloads = [
        r for r in deployment.resources if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")
    ]
    assert len(workloads) >= 2
    for workload in workloads:
        template = workload.inputs["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert any(p["podSelector"]["matchLabels"].items() <= labels.items() for p in policies), workload.name
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            assert "ephemeral-storage" in resources["requests"] and "ephemeral-storage" in resources["limits"], (
                workload.name
            )


def test_the_placeholder_reaches_nothing(prod):
    policy = prod.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "serving-warm-network-policy").inputs["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and not policy.get("egress")
