"""TF Serving on the cluster: its Google identity, ConfigMap, Deployment, Service and autoscaler."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra import timing
from infra.cluster import serving_node_placement
from infra.identity import WorkloadIdentity, WorkloadIdentityArgs, Workspace
from infra.labels import recommended_labels
from infra.pods import checkov_skips, restricted_container_security, restricted_pod_security, tmp_mount, tmp_volume
from infra.settings import ServingSettings

# The lab's object names; every Kubernetes name the stack uses is defined here.
APP_NAME = "image-classifier"
CONFIG_MAP_NAME = "tfserving-configs"
BATCHING_CONFIG_MAP_NAME = "tfserving-batching"
BATCHING_VOLUME = "batching"
BATCHING_DIR = "/etc/tfserving"
BATCHING_FILE = "batching.config"
# Server-side batching for GPU replicas, after TF Serving's batching guide: the largest batch the model
# runs well (NVIDIA's ResNet figures on a T4 gain up to batch 8-32), a 1 ms timeout ("slightly above
# zero ... smooths out batch sizes when the request rate is low"), a batch thread per vCPU of the node,
# and a queue of as many batches as threads, for online serving that prefers scaling out to queueing.
GPU_BATCHING = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 1000 }
num_batch_threads { value: 4 }
max_enqueued_batches { value: 4 }
"""
CONTAINER_NAME = "tf-serving"
GRPC_PORT = 8500
REST_PORT = 8501
WORKLOAD_LABEL_NAME = "tf-serving"
COMPONENT = "model-server"
BUCKET_READER_ROLE = "roles/storage.objectViewer"


@dataclass(frozen=True)
class ServingArgs:
    settings: ServingSettings
    cluster_name: str
    model_name: str
    bucket_name: pulumi.Input[str]
    model_uri: pulumi.Input[str]
    model_revision: str
    model_copy: list[pulumi.Resource]
    node_pool_name: pulumi.Input[str]
    workspace: Workspace
    # The image as pods pull it (through the GPU stack's mirror, or as set), and what that pull needs.
    image: str
    image_ready: list[pulumi.Resource]
    gpu: bool


class Serving(pulumi.ComponentResource):
    """The model server, reachable through a load balancer and scaled by CPU."""

    external_ip: pulumi.Output[str]
    namespace: str
    deployment_name: pulumi.Output[str]
    hpa_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:Serving", name, None, opts)
        settings = args.settings
        google_child = pulumi.ResourceOptions(parent=self)
        selector = {"app": APP_NAME}
        labels = {**recommended_labels(WORKLOAD_LABEL_NAME, settings.instance, COMPONENT), **selector}
        pod_selector = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
        # Service, HPA, NetworkPolicy and PodDisruptionBudget share the Deployment's name.
        workload_metadata = k8s.meta.v1.ObjectMetaArgs(name=APP_NAME, namespace=settings.namespace, labels=labels)
        workspace = args.workspace
        k8s_child = pulumi.ResourceOptions(
            parent=self, provider=workspace.provider, depends_on=workspace.namespace_ready
        )

        # TF Serving reads gs:// as this Google account, which may read the model bucket and nothing else.
        reader = WorkloadIdentity(
            f"{name}-reader",
            WorkloadIdentityArgs(
                workspace=workspace,
                account_id=f"{args.cluster_name}-serving",
                display_name="TF Serving model reader",
                service_account_name=APP_NAME,
                labels=labels,
            ),
            opts=google_child,
        )
        bucket_read = gcp.storage.BucketIAMMember(
            f"{name}-reads-bucket",
            bucket=args.bucket_name,
            role=BUCKET_READER_ROLE,
            member=reader.member,
            opts=google_child,
        )
        # Pods must find the model and their identity in place, or they start and fail; the Service waits
        # for the same pods' endpoints, so it starts and times out with them.
        model_in_place = [*args.model_copy, bucket_read, *reader.ready, *args.image_ready]
        rollout = pulumi.ResourceOptions(
            depends_on=model_in_place,
            custom_timeouts=pulumi.CustomTimeouts(create=timing.ROLLOUT_TIMEOUT, update=timing.ROLLOUT_TIMEOUT),
        )

        config_data = pulumi.Output.from_input(args.model_uri).apply(
            lambda model_uri: {"MODEL_NAME": args.model_name, "MODEL_PATH": model_uri}
        )
        batching = (
            k8s.core.v1.ConfigMap(
                f"{name}-batching",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=BATCHING_CONFIG_MAP_NAME, namespace=settings.namespace, labels=labels
                ),
                data={BATCHING_FILE: GPU_BATCHING},
                opts=k8s_child,
            )
            if args.gpu
            else None
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONFIG_MAP_NAME, namespace=settings.namespace, labels=labels),
            data=config_data,
            opts=k8s_child,
        )

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP_NAME,
                namespace=settings.namespace,
                labels=labels,
                annotations=checkov_skips(
                    settings.image,
                    {
                        "CKV_K8S_11": "No CPU limit on purpose: CFS throttling would add latency under load, the "
                        "HPA scales on the request, and each replica has a node to itself",
                    },
                ),
            ),
            # No `replicas`: the HorizontalPodAutoscaler owns the count, and a declared one would fight it.
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=pod_selector,
                progress_deadline_seconds=timing.PROGRESS_DEADLINE_SECONDS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # envFrom is read at start only, and a new model under the same path is not reloaded:
                        # new ConfigMap content or a new model must roll the pods.
                        annotations={
                            "tfserving.dev/config-hash": config_data.apply(_content_hash),
                            "tfserving.dev/model-revision": args.model_revision,
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=reader.service_account_name,
                        automount_service_account_token=False,
                        security_context=restricted_pod_security(),
                        containers=[_tf_serving_container(settings, args.model_name, config_map, args.image, batching)],
                        volumes=[tmp_volume("1Gi"), *_batching_volume(batching)],
                        **serving_node_placement(args.node_pool_name, gpu=args.gpu),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(k8s_child, rollout),
        )

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=workload_metadata,
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="tf-serving-grpc", port=GRPC_PORT, target_port=GRPC_PORT, protocol="TCP"
                    ),
                    k8s.core.v1.ServicePortArgs(
                        name="tf-serving-http", port=REST_PORT, target_port=REST_PORT, protocol="TCP"
                    ),
                ],
                load_balancer_source_ranges=list(settings.allowed_source_ranges) or None,
            ),
            opts=pulumi.ResourceOptions.merge(k8s_child, rollout),
        )

        autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=workload_metadata,
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=settings.min_replicas,
                max_replicas=settings.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=settings.target_cpu_utilization
                            ),
                        ),
                    )
                ],
            ),
            opts=k8s_child,
        )

        # Only the serving ports may be reached; the load balancer's source ranges narrow who reaches them.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=workload_metadata,
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=pod_selector,
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                            for port in (GRPC_PORT, REST_PORT)
                        ]
                    )
                ],
            ),
            opts=k8s_child,
        )
        # At most one replica away at a time during drains, yet always one eviction allowed, so that
        # neither node upgrades nor the cluster autoscaler's scale-down are ever blocked.
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=workload_metadata,
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                selector=pod_selector,
                max_unavailable=1,
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=k8s_child,
        )

        self.namespace = settings.namespace
        self.deployment_name = deployment.metadata.name
        self.hpa_name = autoscaler.metadata.name
        self.external_ip = service.status.load_balancer.ingress[0].ip
        self.register_outputs({"externalIp": self.external_ip, "deploymentName": self.deployment_name})


def _content_hash(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _batching_volume(batching: k8s.core.v1.ConfigMap | None) -> list[k8s.core.v1.VolumeArgs]:
    if batching is None:
        return []
    source = k8s.core.v1.ConfigMapVolumeSourceArgs(name=batching.metadata.name)
    return [k8s.core.v1.VolumeArgs(name=BATCHING_VOLUME, config_map=source)]


def _tf_serving_container(
    settings: ServingSettings,
    model_name: str,
    config_map: k8s.core.v1.ConfigMap,
    image: str,
    batching: k8s.core.v1.ConfigMap | None,
) -> k8s.core.v1.ContainerArgs:
    grpc_open = k8s.core.v1.TCPSocketActionArgs(port=GRPC_PORT)
    batching_args = [] if batching is None else [
        "--enable_batching", f"--batching_parameters_file={BATCHING_DIR}/{BATCHING_FILE}"
    ]  # fmt: skip
    mounts = [tmp_mount()]
    if batching is not None:
        mounts.append(k8s.core.v1.VolumeMountArgs(name=BATCHING_VOLUME, mount_path=BATCHING_DIR, read_only=True))
    limits = {"memory": settings.memory_limit, **({"nvidia.com/gpu": "1"} if batching is not None else {})}
    return k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=image,
        args=["--model_name=$(MODEL_NAME)", "--model_base_path=$(MODEL_PATH)", *batching_args],
        env_from=[
            k8s.core.v1.EnvFromSourceArgs(
                config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=config_map.metadata.name)
            )
        ],
        ports=[
            k8s.core.v1.ContainerPortArgs(name="http", container_port=REST_PORT, protocol="TCP"),
            k8s.core.v1.ContainerPortArgs(name="grpc", container_port=GRPC_PORT, protocol="TCP"),
        ],
        image_pull_policy="IfNotPresent",
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": settings.cpu_request, "memory": settings.memory_request},
            limits=limits,
        ),
        security_context=restricted_container_security(),
        volume_mounts=mounts,
        # TF Serving opens its ports once the model is loaded; allow a slow first load before liveness counts.
        startup_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=grpc_open, period_seconds=10, failure_threshold=timing.MODEL_LOAD_SECONDS // 10
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(tcp_socket=grpc_open, period_seconds=10, failure_threshold=3),
        # Model metadata is served only by a loaded model, so "ready" means "can predict".
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=f"/v1/models/{model_name}/metadata", port=REST_PORT),
            initial_delay_seconds=10,
            period_seconds=5,
            timeout_seconds=5,
            failure_threshold=10,
        ),
    )
