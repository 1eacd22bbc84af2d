"""New replicas serve within seconds, and each serves more: warm spares, priorities, the HPA's
profile, TF Serving's flags as settings, Ready meaning warm, and server-side metrics."""

from tests.infra.harness import Deployment, failure, refused_settings, run_program, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"


def serving(deployment: Deployment) -> dict:
    return deployment.named(DEPLOYMENT, "serving-deployment").inputs


def test_the_lab_has_no_placeholder_and_serving_pods_have_a_priority_of_their_own(dev):
    assert [d.name for d in dev.of_type(DEPLOYMENT)] == ["serving-deployment"]
    (priority,) = dev.of_type(PRIORITY_CLASS)
    assert priority.inputs["metadata"]["name"] == "tfserving-serving"
    assert priority.inputs["value"] > 0 and priority.inputs["globalDefault"] is False
    assert serving(dev)["spec"]["template"]["spec"]["priorityClassName"] == "tfserving-serving"
    assert priority.urn in dev.named(DEPLOYMENT, "serving-deployment").dependencies


def test_a_warm_spare_is_a_serving_sized_low_priority_placeholder(prod):
    placeholder = prod.named(DEPLOYMENT, "serving-warm-placeholder").inputs
    assert placeholder["spec"]["replicas"] == 1
    pod = placeholder["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (server,) = serving(prod)["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == server["resources"], "it holds exactly a replica's room"
    assert container["image"] == server["image"], "its node has the serving image pulled"
    assert container["command"] == ["/bin/sleep", "infinity"]
    server_pod = serving(prod)["spec"]["template"]["spec"]
    assert (pod["nodeSelector"], pod["tolerations"]) == (server_pod["nodeSelector"], server_pod["tolerations"])
    classes = {c.inputs["metadata"]["name"]: c.inputs for c in prod.of_type(PRIORITY_CLASS)}
    spare = classes[pod["priorityClassName"]]
    # Below the serving pods', so they preempt it at once; at -10, the lowest the cluster autoscaler still adds
    # a node for; and it never preempts anything itself.
    assert spare["value"] == -10 < classes["serving-serving"]["value"], "named after prod's namespace, serving"
    assert placeholder["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", "up never waits for a spare"
    assert spare["preemptionPolicy"] == "Never" and spare["globalDefault"] is False
    assert pod["terminationGracePeriodSeconds"] == 0
    service_selector = prod.one("kubernetes:core/v1:Service").inputs["spec"]["selector"]
    assert not service_selector.items() <= placeholder["spec"]["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["readOnlyRootFilesystem"]


def test_spares_and_the_minimum_must_fit_the_serving_nodes(monkeypatch):
    message = failure(monkeypatch, spareReplicas=3, minReplicas=1)
    assert (
        "tfserving-gke:minReplicas (1) plus tfserving-gke:spareReplicas (3) need 4 serving pods, but "
        "tfserving-gke:maxNodes (3) nodes hold 3 at 1 per n1-standard-4 node"
    ) in message
    fitting = run_program(stack_config("dev", spareReplicas=2, minReplicas=1))
    assert fitting.named("kubernetes:apps/v1:Deployment", "serving-warm-placeholder").inputs["spec"]["replicas"] == 2


def test_the_minimum_must_fit_even_without_spares_at_one_pod_per_gpu_node(monkeypatch):
    # A T4 replica asks for 1 CPU, so three would fit a node by CPU; the node's one GPU holds one.
    message = refused_settings(monkeypatch, stack_config("gpu", minReplicas=4, maxReplicas=4), "gpu")
    assert "tfserving-gke:minReplicas (4) need 4 serving pods, but tfserving-gke:maxNodes (3) nodes hold 3" in message


def test_the_hpa_profile_is_performance_and_a_setting(dev, monkeypatch):
    cluster = dev.one("gcp:container/cluster:Cluster").inputs
    assert cluster["podAutoscaling"] == {"hpaProfile": "PERFORMANCE"}
    assert run_program(stack_config("dev", hpaProfile="NONE")).one("gcp:container/cluster:Cluster").inputs[
        "podAutoscaling"
    ] == {"hpaProfile": "NONE"}
    assert "tfserving-gke:hpaProfile 'FAST' is not an HPA profile; use PERFORMANCE or NONE" in failure(
        monkeypatch, hpaProfile="FAST"
    )


def test_tf_serving_flags_are_settings_and_absent_by_default(dev):
    (default,) = serving(dev)["spec"]["template"]["spec"]["containers"]
    assert not any("parallelism" in arg or "rest_api" in arg or "batching" in arg for arg in default["args"])
    tuned = run_program(
        stack_config(
            "dev", tensorflowIntraOpThreads=3, tensorflowInterOpThreads=1, restApiThreads=8, serverBatching=True
        )
    )
    (container,) = serving(tuned)["spec"]["template"]["spec"]["containers"]
    for flag in (
        "--tensorflow_intra_op_parallelism=3",
        "--tensorflow_inter_op_parallelism=1",
        "--rest_api_num_threads=8",
        "--enable_batching",
        "--batching_parameters_file=/etc/tfserving/batching.config",
    ):
        assert flag in container["args"]
    files = tuned.named("kubernetes:core/v1:ConfigMap", "serving-server-config").inputs["data"]
    assert "max_batch_size { value: 8 }" in files["batching.config"]
    server_config = [d.named("kubernetes:core/v1:ConfigMap", "serving-server-config") for d in (dev, tuned)]
    assert server_config[0].inputs["metadata"]["name"] != server_config[1].inputs["metadata"]["name"], (
        "a new server file is a new ConfigMap, which rolls the pods"
    )


def test_metrics_are_served_and_scraped(dev):
    cluster = dev.one("gcp:container/cluster:Cluster").inputs
    assert cluster["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    files = dev.named("kubernetes:core/v1:ConfigMap", "serving-server-config").inputs["data"]
    assert 'path: "/monitoring/prometheus/metrics"' in files["monitoring.config"]
    assert "enable: true" in files["monitoring.config"]
