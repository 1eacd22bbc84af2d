"""Composition root: settings, then components, then the stack's outputs."""

import pulumi

from infra import apis
from infra.apis import ProjectApis, ProjectApisArgs
from infra.cluster import LOAD_TAINT_KEY, LOAD_TAINT_VALUE, Cluster, ClusterArgs
from infra.cost import stack_cost
from infra.identity import Workspace
from infra.images import ImageMirror, ImageMirrorArgs
from infra.model_store import ModelStore, ModelStoreArgs
from infra.serving import APP_NAME, GRPC_PORT, REST_PORT, Serving, ServingArgs
from infra.settings import load_settings

settings = load_settings()

project = settings.cluster.project
gpu = settings.cluster.accelerator is not None
project_apis = ProjectApis("apis", ProjectApisArgs(project=project, image_mirror=gpu))
cluster = Cluster(
    "gke",
    ClusterArgs(
        settings=settings.cluster,
        apis=project_apis,
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
workspace = Workspace(
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
        workspace=workspace,
    ),
)
serving = Serving(
    "serving",
    ServingArgs(
        settings=settings.serving,
        cluster_name=settings.cluster.name,
        model_name=settings.model.name,
        bucket_name=model_store.bucket_name,
        model_uri=model_store.model_uri,
        model_revision=model_store.revision,
        model_copy=model_store.model_copy,
        node_pool_name=cluster.node_pool_name,
        workspace=workspace,
        image=image,
        image_ready=image_ready,
        gpu=gpu,
    ),
)

console = "https://console.cloud.google.com/kubernetes"
project_query = f"?project={settings.cluster.project}"
zone, cluster_name = settings.cluster.zone, settings.cluster.name
rest_url = pulumi.Output.format("http://{0}:{1}", serving.external_ip, REST_PORT)

pulumi.export("externalIp", serving.external_ip)
pulumi.export("restUrl", rest_url)
pulumi.export("predictUrl", pulumi.Output.format("{0}/v1/models/{1}:predict", rest_url, settings.model.name))
pulumi.export("grpcTarget", pulumi.Output.format("{0}:{1}", serving.external_ip, GRPC_PORT))
pulumi.export("modelName", settings.model.name)
pulumi.export("clusterName", cluster.name)
pulumi.export("zone", zone)
pulumi.export("nodePoolName", cluster.node_pool_name)
pulumi.export("namespace", serving.namespace)
pulumi.export("deploymentName", serving.deployment_name)
pulumi.export("hpaName", serving.hpa_name)
pulumi.export("bucketName", model_store.bucket_name)
pulumi.export("modelPath", model_store.model_uri)
pulumi.export("kubeconfig", cluster.kubeconfig)
# What `python -m loadtest --in-cluster` needs: the pool its pods go to, and the Service's in-cluster address.
if cluster.load_generator_pool is not None:
    pulumi.export(
        "loadGenerator",
        {
            "nodePool": cluster.load_generator_pool,
            "taintKey": LOAD_TAINT_KEY,
            "taintValue": LOAD_TAINT_VALUE,
            "restUrl": pulumi.Output.format(
                "http://{0}.{1}.svc.cluster.local:{2}", serving.deployment_name, serving.namespace, REST_PORT
            ),
        },
    )
pulumi.export("estimatedCostPerHour", stack_cost(settings.cluster))
pulumi.export(
    "deploymentConsoleUrl",
    f"{console}/deployment/{zone}/{cluster_name}/{settings.serving.namespace}/{APP_NAME}/overview{project_query}",
)
pulumi.export(
    "nodePoolConsoleUrl",
    f"{console}/nodepool/{zone}/{cluster_name}/{settings.cluster.node_pool_name}{project_query}",
)
