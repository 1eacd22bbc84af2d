"""TF Serving on the cluster: its Google identity, ConfigMap, Deployment, Service and autoscaler."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import timing
from infra.identity import KubernetesTarget
from infra.labels import recommended_labels
from infra.placement import serving_node_placement
from infra.pod_guards import guard_serving_pods
from infra.pods import checkov_skips, restricted_pod_security, tmp_volume
from infra.rollout import ROLLED_OUT, WAIT_FOR, rollout_strategy
from infra.serving_container import (
    GRPC_PORT,
    METRICS_PATH,
    REST_PORT,
    REST_PORT_NAME,
    SERVING_TMP_SIZE,
    config_volume,
    server_files,
    tf_serving_container,
)
from infra.serving_identity import ModelBucketReader, ServingIdentityArgs, serving_identity
from infra.settings_values import ServingSettings
from infra.warm_capacity import WarmCapacity, WarmCapacityArgs

# The lab's object names; every Kubernetes name of the serving system is defined here.
APP_NAME = "image-classifier"
CONFIG_MAP_NAME = "tfserving-configs"
SERVER_CONFIG_MAP_NAME = "tfserving-server-config"
WORKLOAD_LABEL_NAME = "tf-serving"
COMPONENT = "model-server"
# GKE Managed Prometheus scrapes TF Serving's metrics endpoint with this custom resource.
POD_MONITORING_API = "monitoring.googleapis.com/v1"
SCRAPE_INTERVAL = "15s"


@dataclass(frozen=True)
class ServingArgs:
    settings: ServingSettings
    model_name: str
    model_uri: pulumi.Input[str]
    model_revision: str
    model_copy: list[pulumi.Resource]
    # None: the pods go wherever the cluster schedules them (a cluster without the stack's pools).
    node_pool_name: pulumi.Input[str] | None
    kube_target: KubernetesTarget
    # The image as pods pull it (through the GPU stack's mirror, or as set), and what that pull needs.
    image: str
    image_ready: list[pulumi.Resource]
    gpu: bool
    # None on a cluster the user already has: a plain service account, annotated with
    # `google_service_account` for Workload Identity where one is given.
    bucket_reader: ModelBucketReader | None
    google_service_account: str
    # GKE Managed Prometheus' PodMonitoring; its CRD exists only where Managed Prometheus is on.
    pod_monitoring: bool
    # Serving pods the pool holds at its largest (maxNodes x pods per node); None where the nodes are not known.
    serving_slots: int | None
    # Serving pods preempt lower-priority pods (the stack's placeholders): on its own pools, or by servingPreemption.
    preemption: bool


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
        kube_target = args.kube_target
        k8s_child = pulumi.ResourceOptions(
            parent=self, provider=kube_target.provider, depends_on=kube_target.namespace_ready
        )

        service_account, identity_ready = serving_identity(
            name,
            ServingIdentityArgs(
                account_name=APP_NAME,
                namespace=settings.namespace,
                kube_target=kube_target,
                bucket_reader=args.bucket_reader,
                google_service_account=args.google_service_account,
                labels=labels,
            ),
            google_child,
            k8s_child,
        )
        # Pods must find the model and their identity in place, or they start and fail; the Service waits
        # for the same pods' endpoints, so it starts and times out with them.
        model_in_place = [*args.model_copy, *identity_ready, *args.image_ready]
        rollout = pulumi.ResourceOptions(
            depends_on=model_in_place,
            custom_timeouts=pulumi.CustomTimeouts(create=timing.ROLLOUT_TIMEOUT, update=timing.ROLLOUT_TIMEOUT),
        )

        config_data = pulumi.Output.from_input(args.model_uri).apply(
            lambda model_uri: {"MODEL_NAME": args.model_name, "MODEL_PATH": model_uri}
        )
        files = server_files(settings.tuning, args.gpu)
        # Each ConfigMap is named after its content: new content is a new ConfigMap, made before the old one goes,
        # and the Deployment's reference to it changes, so the Deployment rolls (an update: same object, replicas
        # kept). A fixed name makes the provider replace it delete-first (the name must be reused), and the engine
        # then replaces everything that depends on it, the Deployment included (pulumi-kubernetes provider.go,
        # Diff's deleteBeforeReplace; docs/operations.md).
        server_config = k8s.core.v1.ConfigMap(
            f"{name}-server-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=content_name(SERVER_CONFIG_MAP_NAME, files.data), namespace=settings.namespace, labels=labels
            ),
            data=files.data,
            opts=k8s_child,
        )
        # New replicas preempt the warm placeholder at once; no cluster-wide default changes.
        warm = WarmCapacity(
            f"{name}-warm",
            WarmCapacityArgs(
                settings=settings,
                kube_target=kube_target,
                image=args.image,
                gpu=args.gpu,
                node_pool_name=args.node_pool_name,
                ready=args.image_ready,
                preemption=args.preemption,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=config_data.apply(lambda data: content_name(CONFIG_MAP_NAME, data)),
                namespace=settings.namespace,
                labels=labels,
            ),
            data=config_data,
            opts=k8s_child,
        )

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP_NAME,
                namespace=settings.namespace,
                labels=labels,
                annotations={
                    WAIT_FOR: ROLLED_OUT,
                    **checkov_skips(
                        settings.image,
                        {
                            "CKV_K8S_11": "No CPU limit on purpose: CFS throttling would add latency under load, the "
                            "HPA scales on the request, and each replica has a node to itself",
                        },
                    ),
                },
            ),
            # No `replicas`: the HorizontalPodAutoscaler owns the count, and a declared one would fight it.
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=pod_selector,
                progress_deadline_seconds=timing.PROGRESS_DEADLINE_SECONDS,
                strategy=rollout_strategy(settings.max_replicas, args.serving_slots),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # A new model under the same path is not reloaded: a new revision must roll the pods (new
                        # ConfigMap content does, through the ConfigMaps' names).
                        annotations={"tfserving.dev/model-revision": args.model_revision},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account,
                        automount_service_account_token=False,
                        security_context=restricted_pod_security(),
                        priority_class_name=warm.serving_class_name,
                        containers=[
                            tf_serving_container(settings, config_map.metadata.name, args.image, files, args.gpu)
                        ],
                        volumes=[tmp_volume(SERVING_TMP_SIZE), config_volume(server_config.metadata.name)],
                        # No pod anti-affinity, on purpose: with the lab's request a replica fills a node (3 of
                        # 3.92 CPU), so two never share one; a rule would only add to the scheduler's work.
                        **serving_node_placement(args.node_pool_name, gpu=args.gpu),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                k8s_child.merge(rollout), pulumi.ResourceOptions(depends_on=warm.priority_classes)
            ),
        )

        # GKE Managed Prometheus scrapes each replica's request counts and latencies into Cloud Monitoring.
        if args.pod_monitoring:
            k8s.apiextensions.CustomResource(
                f"{name}-pod-monitoring",
                api_version=POD_MONITORING_API,
                kind="PodMonitoring",
                metadata=workload_metadata,
                spec={
                    "selector": {"matchLabels": selector},
                    "endpoints": [{"port": REST_PORT_NAME, "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
                },
                opts=k8s_child,
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

        guard_serving_pods(name, workload_metadata, pod_selector, k8s_child)

        self.namespace = settings.namespace
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.hpa_name = autoscaler.metadata.name
        self.external_ip = service.status.apply(load_balancer_address)
        self.register_outputs({"externalIp": self.external_ip, "deploymentName": self.deployment_name})


def content_name(prefix: str, data: dict[str, str]) -> str:
    """`<prefix>-<10 hex digits of the content>`: a ConfigMap whose name changes exactly when its content does."""
    return f"{prefix}-{hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]}"


def load_balancer_address(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    """The address a LoadBalancer Service answers on: its IP, or the hostname where the cloud gives only that
    (Kubernetes' LoadBalancerIngress carries either; AWS's load balancers, for one, give hostnames)."""
    balancer = status.load_balancer if status else None
    ingress = (balancer.ingress if balancer else None) or []
    address = ingress[0].ip or ingress[0].hostname if ingress else None
    if not address:
        # pulumi-kubernetes awaits a LoadBalancer Service until its ingress has an address, so this is a bug.
        raise ValueError(f"the Service's load balancer gave no address: {status}")
    return address
