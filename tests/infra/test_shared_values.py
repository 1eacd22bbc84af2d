"""Values that the program, the load-test package and the policy pack must agree on. The load-test package knows
the stack only by its outputs and never imports `infra`, so its copies are held equal here."""

from infra import node_pools, pods, serving, serving_container, settings
from loadtest import incluster_objects, sampler, server_metrics, target, watch


def test_the_load_test_reads_the_settings_defaults_as_the_program_does():
    """Both read Pulumi.yaml (loadtest may not import infra): the same settings, the same typed defaults."""
    program = settings.project_defaults()
    assert target.project_defaults() == {key: value for key, value in program.items() if value is not None}
    assert "namespace" in program and "nodePoolName" in program


def test_the_watcher_and_the_in_cluster_run_select_nodes_by_the_programs_pool_label():
    assert sampler.NODE_POOL_LABEL == node_pools.NODE_POOL_LABEL


def test_the_watchers_default_workload_is_the_programs_deployment():
    assert watch.LAB_WORKLOAD == serving.APP_NAME


def test_server_metrics_are_read_where_tf_serving_serves_them():
    assert server_metrics.METRICS_PATH == serving_container.METRICS_PATH
    assert server_metrics.REST_PORT == serving_container.REST_PORT


def test_locust_pods_run_as_the_programs_unprivileged_user():
    assert incluster_objects.RUN_AS == pods.RUN_AS_ID


def test_the_in_cluster_run_places_its_pods_by_the_programs_pool_label():
    objects = incluster_objects.manifests(
        "loadtest-contract",
        incluster_objects.LoadGenerator(
            node_pools.LOAD_POOL_NAME,
            node_pools.LOAD_TAINT_KEY,
            node_pools.LOAD_TAINT_VALUE,
            "http://image-classifier.tfserving.svc.cluster.local:8501",
            serving.APP_NAME,
            "tfserving",
            serving_container.REST_PORT,
        ),
        1,
        b"\xff\xd8",
        [],
    )
    pod = objects[3]["spec"]
    assert pod["nodeSelector"] == {node_pools.NODE_POOL_LABEL: node_pools.LOAD_POOL_NAME}
