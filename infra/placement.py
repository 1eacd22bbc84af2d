"""Where serving-sized pods go: the serving pool, and only there (its taint, and the GPU taint on GPU nodes)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.node_pools import GPU_TAINT_KEY, NODE_POOL_LABEL, SERVING_TAINT_KEY, SERVING_TAINT_VALUE


def serving_node_placement(node_pool_name: pulumi.Input[str] | None, gpu: bool = False) -> dict:
    """The node selector and tolerations that put a pod on the serving pool, and only there.

    None (a cluster without the stack's pools): no placement; the cluster's scheduler decides.
    """
    if node_pool_name is None:
        return {}
    tolerations = [
        k8s.core.v1.TolerationArgs(
            key=SERVING_TAINT_KEY, operator="Equal", value=SERVING_TAINT_VALUE, effect="NoSchedule"
        )
    ]
    if gpu:
        tolerations.append(k8s.core.v1.TolerationArgs(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule"))
    return {"node_selector": {NODE_POOL_LABEL: node_pool_name}, "tolerations": tolerations}
