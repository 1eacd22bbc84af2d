"""Composition root: settings, then components, then the stack's outputs.

Two shapes: the lab's, with its own GKE cluster, bucket and model copy; or the serving system alone, in a
cluster the user already has (`kubeconfig` set), which registers no Google resource.
"""

import hashlib

import pulumi

from infra import apis
from infra.apis import ProjectApis, ProjectApisArgs
from infra.cluster import Cluster, ClusterArgs
from infra.cost import stack_cost
from infra.existing_cluster import ExistingCluster, ExistingClusterArgs
from infra.existing_settings import ExistingClusterSettings
from infra.identity import KubernetesTarget
from infra.image_mirror import ImageMirror, ImageMirrorArgs
from infra.model_store import ModelStore, ModelStoreArgs
from infra.network import StackNetwork, StackNetworkArgs
from infra.node_fit import serving_slots
from infra.node_pools import LOAD_POOL_NAME, LOAD_TAINT_KEY, LOAD_TAINT_VALUE
from infra.serving import APP_NAME, GRPC_PORT, REST_PORT, Serving, ServingArgs
from infra.serving_identity import ModelBucketReader
from infra.settings import load_settings
from infra.settings_values import Settings


def on_gke(settings: Settings) -> Serving:
    """The lab: a GKE cluster, the model copied into a bucket of the stack's, TF Serving reading it."""
    project = settings.cluster.project
    gpu = settings.cluster.accelerator is not None
    project_apis = ProjectApis("apis", ProjectApisArgs(project=project, image_mirror=gpu))
    network = StackNetwork("network", StackNetworkArgs(settings=settings.cluster, apis=project_apis))
    cluster = Cluster(
        "gke",
        ClusterArgs(
            settings=settings.cluster,
            apis=project_apis,
            network=network,
            namespace=settings.serving.namespace,
            instance=settings.serving.instance,
        ),
    )
    # GPU nodes stream their multi-GB image from a Docker Hub mirror; CPU nodes pull the lab's image as it is.
    image, image_ready = settings.serving.image, []
    if gpu:
        mirror = ImageMirror(
            "images",
            ImageMirrorArgs(
                project=project,
                region=settings.cluster.region,
                repository_id=f"{settings.cluster.name}-docker-hub",
                reader=cluster.node_account_member,
                apis_ready=project_apis.needs(*apis.IMAGE_MIRROR),
            ),
        )
        image, image_ready = mirror.image(image), mirror.ready
    kube_target = KubernetesTarget(
        project=project,
        namespace=cluster.namespace,
        workload_pool=cluster.workload_pool,
        provider=cluster.provider,
        iam_ready=project_apis.needs(apis.IAM),
        namespace_ready=cluster.namespace_ready,
    )
    model_store = ModelStore(
        "model",
        ModelStoreArgs(
            settings=settings.model,
            project=project,
            location=settings.cluster.region,
            apis=project_apis,
            cluster_name=settings.cluster.name,
            instance=settings.serving.instance,
            kube_target=kube_target,
        ),
    )
    serving = Serving(
        "serving",
        ServingArgs(
            settings=settings.serving,
            model_name=settings.model.name,
            model_uri=model_store.model_uri,
            model_revision=model_store.revision,
            model_copy=model_store.model_copy,
            node_pool_name=cluster.node_pool_name,
            kube_target=kube_target,
            image=image,
            image_ready=image_ready,
            gpu=gpu,
            bucket_reader=ModelBucketReader(
                bucket_name=model_store.bucket_name, account_id=f"{settings.cluster.name}-serving"
            ),
            google_service_account="",
            pod_monitoring=True,
            serving_slots=serving_slots(
                settings.cluster.machine_type,
                settings.cluster.max_nodes,
                settings.serving.cpu_request,
                settings.serving.memory_request,
                gpu,
            ),
            preemption=True,
        ),
    )

    console = "https://console.cloud.google.com/kubernetes"
    project_query = f"?project={project}"
    zone, cluster_name = settings.cluster.zone, settings.cluster.name
    pulumi.export("clusterName", cluster.name)
    pulumi.export("zone", zone)
    pulumi.export("nodePoolName", cluster.node_pool_name)
    pulumi.export("bucketName", model_store.bucket_name)
    pulumi.export("modelPath", model_store.model_uri)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    if cluster.load_generator_pool is not None:
        export_load_generator(cluster.load_generator_pool, serving)
    pulumi.export("estimatedCostPerHour", stack_cost(settings.cluster, settings.serving))
    pulumi.export(
        "deploymentConsoleUrl",
        f"{console}/deployment/{zone}/{cluster_name}/{settings.serving.namespace}/{APP_NAME}/overview{project_query}",
    )
    pulumi.export(
        "nodePoolConsoleUrl",
        f"{console}/nodepool/{zone}/{cluster_name}/{settings.cluster.node_pool_name}{project_query}",
    )
    return serving


def on_existing_cluster(settings: Settings, existing: ExistingClusterSettings) -> Serving:
    """The serving system alone, in the user's cluster; TF Serving reads the model where modelSource is."""
    home = ExistingCluster(
        "cluster",
        ExistingClusterArgs(
            settings=existing, namespace=settings.serving.namespace, instance=settings.serving.instance
        ),
    )
    kube_target = KubernetesTarget(
        project="",
        namespace=home.namespace,
        workload_pool="",
        provider=home.provider,
        iam_ready=[],
        namespace_ready=home.namespace_ready,
    )
    model_uri = existing.model_uri
    node_pool = settings.cluster.node_pool_name if existing.gke_node_pools else None
    serving = Serving(
        "serving",
        ServingArgs(
            settings=settings.serving,
            model_name=settings.model.name,
            model_uri=model_uri,
            # A new path is a new model: the pods roll (TF Serving does not reload one under the same path).
            model_revision=hashlib.sha256(model_uri.encode()).hexdigest()[:16],
            model_copy=[],
            node_pool_name=node_pool,
            kube_target=kube_target,
            image=settings.serving.image,
            image_ready=[],
            gpu=False,
            bucket_reader=None,
            google_service_account=existing.google_service_account,
            pod_monitoring=existing.managed_prometheus,
            # With the stack's pools, machineType and maxNodes describe the serving pool; else its room is unknown.
            serving_slots=serving_slots(
                settings.cluster.machine_type,
                settings.cluster.max_nodes,
                settings.serving.cpu_request,
                settings.serving.memory_request,
                gpu=False,
            )
            if existing.gke_node_pools
            else None,
            preemption=existing.serving_preemption,
        ),
    )
    pulumi.export("nodePoolName", node_pool or "")
    pulumi.export("modelPath", model_uri)
    pulumi.export("kubeconfigPath", str(existing.kubeconfig_path))
    pulumi.export("kubeContext", existing.context)
    export_load_generator(LOAD_POOL_NAME if existing.gke_node_pools else "", serving)
    return serving


def export_load_generator(node_pool: pulumi.Input[str], serving: Serving) -> None:
    """What `python -m loadtest --in-cluster` needs: the pool its pods go to, and the Service's in-cluster address."""
    pulumi.export(
        "loadGenerator",
        {
            "nodePool": node_pool,
            "taintKey": LOAD_TAINT_KEY,
            "taintValue": LOAD_TAINT_VALUE,
            "restUrl": pulumi.Output.format(
                "http://{0}.{1}.svc.cluster.local:{2}", serving.service_name, serving.namespace, REST_PORT
            ),
            # The preflight predicts through the API server's proxy to this Service: the address the pods load.
            "service": serving.service_name,
            "namespace": serving.namespace,
            "port": REST_PORT,
        },
    )


settings = load_settings()
if settings.existing_cluster is None:
    serving = on_gke(settings)
else:
    serving = on_existing_cluster(settings, settings.existing_cluster)

rest_url = pulumi.Output.format("http://{0}:{1}", serving.external_ip, REST_PORT)
pulumi.export("externalIp", serving.external_ip)
pulumi.export("restUrl", rest_url)
pulumi.export("predictUrl", pulumi.Output.format("{0}/v1/models/{1}:predict", rest_url, settings.model.name))
pulumi.export("grpcTarget", pulumi.Output.format("{0}:{1}", serving.external_ip, GRPC_PORT))
pulumi.export("modelName", settings.model.name)
pulumi.export("namespace", serving.namespace)
pulumi.export("deploymentName", serving.deployment_name)
pulumi.export("hpaName", serving.hpa_name)
