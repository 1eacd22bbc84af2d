"""Warm capacity: serving-sized slots kept by low-priority placeholders, so a new replica starts at once.

A placeholder asks for what a serving replica asks for, on the serving pool, running the
serving image (so the node has it pulled), at a priority below the serving pods'. A new
replica preempts it at once instead of waiting 80-120 s for a node; the evicted
placeholder goes Pending, and the cluster autoscaler adds a node for it in the background.
Its priority is -10: the cluster autoscaler ignores pods below -10 when scaling up (its
FAQ, "How can I configure overprovisioning"), so -10 is the lowest that still brings the
spare node back. It never preempts anything itself (preemptionPolicy: Never). The serving
pods get a PriorityClass of their own; no cluster-wide default changes.

Priority classes are cluster-wide, so each carries the name of the stack's namespace, which no other stack in the
cluster may have (infra/ownership.py): stacks side by side never share or delete each other's. Where the stack
does not own the nodes and servingPreemption is off, the serving pods' class has the default priority, 0, and
preemptionPolicy Never: they evict no one, lower-priority pods of another team included (a pod without a class would
preempt those), and there are no placeholders to preempt.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import timing
from infra.identity import KubernetesTarget
from infra.labels import PLACEHOLDER_COMPONENT, recommended_labels
from infra.placement import serving_node_placement
from infra.pods import checkov_skips, restricted_container_security, restricted_pod_security, serve_nothing_policy
from infra.serving_container import serving_resources
from infra.settings_values import ServingSettings

SERVING_PRIORITY = 1000
# Kubernetes' priority for a pod of no class where the cluster has no global default.
SHARED_PRIORITY = 0
PLACEHOLDER_PRIORITY = -10
PLACEHOLDER_NAME = "image-classifier-spare"
SKIP_AWAIT = "pulumi.com/skipAwait"


def serving_priority_class(namespace: str) -> str:
    return f"{namespace}-serving"


def placeholder_priority_class(namespace: str) -> str:
    return f"{namespace}-spare"


@dataclass(frozen=True)
class WarmCapacityArgs:
    settings: ServingSettings
    kube_target: KubernetesTarget
    image: str
    gpu: bool
    node_pool_name: pulumi.Input[str] | None
    ready: list[pulumi.Resource]
    # Serving pods preempt lower-priority ones: on the stack's own pools, or where servingPreemption allows it.
    preemption: bool


class WarmCapacity(pulumi.ComponentResource):
    """The priority classes, and `spareReplicas` placeholders (none in the lab)."""

    priority_classes: list[pulumi.Resource]
    serving_class_name: str

    def __init__(self, name: str, args: WarmCapacityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfserving:infra:WarmCapacity", name, None, opts)
        settings, kube_target = args.settings, args.kube_target
        cluster_wide = pulumi.ResourceOptions(parent=self, provider=kube_target.provider)
        self.serving_class_name = serving_priority_class(settings.namespace)
        preempts = "preempt the warm placeholders" if args.preemption else "preempt no one (servingPreemption off)"
        self.priority_classes = [
            self._priority_class(
                f"{name}-serving-priority",
                self.serving_class_name,
                SERVING_PRIORITY if args.preemption else SHARED_PRIORITY,
                "PreemptLowerPriority" if args.preemption else "Never",
                f"TF Serving replicas of stack {settings.instance}: they {preempts}.",
                settings.instance,
                cluster_wide,
            )
        ]
        if settings.spare_replicas:
            self._placeholders(name, args, cluster_wide)
        self.register_outputs({})

    @staticmethod
    def _priority_class(
        resource_name: str,
        class_name: str,
        value: int,
        preemption: str,
        description: str,
        instance: str,
        opts: pulumi.ResourceOptions,
    ) -> k8s.scheduling.v1.PriorityClass:
        """A priority class of this stack's own; never the cluster's global default."""
        return k8s.scheduling.v1.PriorityClass(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=class_name, labels=recommended_labels(class_name, instance, "priority")
            ),
            value=value,
            global_default=False,
            preemption_policy=preemption,
            description=description,
            opts=opts,
        )

    def _placeholders(self, name: str, args: WarmCapacityArgs, cluster_wide: pulumi.ResourceOptions) -> None:
        settings, kube_target = args.settings, args.kube_target
        placeholder_class = self._priority_class(
            f"{name}-spare-priority",
            placeholder_priority_class(settings.namespace),
            PLACEHOLDER_PRIORITY,
            "Never",
            "Warm placeholders for TF Serving: preempted by replicas, still scaled up for.",
            settings.instance,
            cluster_wide,
        )
        labels = recommended_labels(PLACEHOLDER_NAME, settings.instance, PLACEHOLDER_COMPONENT)
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=kube_target.provider, depends_on=kube_target.namespace_ready
        )
        # It only sleeps: nothing reaches it, and it reaches nothing.
        no_ingress = serve_nothing_policy(
            f"{name}-network-policy", PLACEHOLDER_NAME, kube_target.namespace, labels, [], in_namespace
        )
        k8s.apps.v1.Deployment(
            f"{name}-placeholder",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PLACEHOLDER_NAME,
                namespace=kube_target.namespace,
                labels=labels,
                annotations={
                    # Best-effort room: `up` never waits for it (on a full pool it may stay Pending for good, and
                    # a namespace move must not hang on it); provider metadata/overrides.go, pulumi.com/skipAwait.
                    SKIP_AWAIT: "true",
                    **checkov_skips(
                        args.image,
                        {
                            "CKV_K8S_11": "Holds room for a serving replica, which has no CPU limit either",
                            "CKV_K8S_8": "A placeholder only sleeps: nothing to probe",
                            "CKV_K8S_9": "A placeholder serves nothing: no readiness",
                        },
                    ),
                },
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=settings.spare_replicas,
                # A placeholder may wait for a new node as long as a serving replica does (a GPU node is slow).
                progress_deadline_seconds=timing.PROGRESS_DEADLINE_SECONDS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        priority_class_name=placeholder_priority_class(settings.namespace),
                        # Preempted placeholders leave at once: the replica waiting for their room starts sooner.
                        termination_grace_period_seconds=0,
                        automount_service_account_token=False,
                        security_context=restricted_pod_security(),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="placeholder",
                                # The serving image, so that the node it keeps warm has it pulled already.
                                image=args.image,
                                image_pull_policy="IfNotPresent",
                                command=["/bin/sleep", "infinity"],
                                resources=serving_resources(settings, args.gpu),
                                security_context=restricted_container_security(),
                            )
                        ],
                        **serving_node_placement(args.node_pool_name, gpu=args.gpu),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                in_namespace,
                pulumi.ResourceOptions(depends_on=[placeholder_class, no_ingress, *args.ready]),
            ),
        )
