"""How the serving Deployment rolls onto a new model, image or server setting, so that a rollout always completes
(docs/operations.md, "Rollouts that always complete"; tests/engine/test_rollout.py).

The Deployment controller (pkg/controller/deployment/rolling.go) takes an old pod down only while the available
pods stay at or above replicas - maxUnavailable, and it counts the new ReplicaSet's pending pods against the room
it has. On a pool of `slots` serving pods, at most `slots` are available; with more replicas than that (the HPA
may ask for up to maxReplicas, the rest Pending), an old pod may go only if maxUnavailable >= replicas - slots + 1.
Below a full pool, the surge pod finds a free slot and nothing needs to go down first.
"""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s

# When `up` counts a rollout done, as pulumi-kubernetes' pulumi.com/waitFor conditions (all must hold, each against
# the Deployment once its status has observed the new generation: await/condition/jsonpath.go): every pod belongs to
# the new template (status.replicas == status.updatedReplicas: no old pod left), and the Deployment is Available
# (at least replicas - maxUnavailable Ready). Its built-in await also waits for every new pod to be Ready, which a
# pod the full pool has no room for never is: with the HPA above the pool's slots, `up` would wait out its timeout.
# The filter is RFC 9535 JSONPath (the provider's github.com/theory/jsonpath): over the object's members, only
# status has updatedReplicas.
ROLLED_OUT = json.dumps(["jsonpath={[?@.updatedReplicas && @.replicas==@.updatedReplicas]}", "condition=Available"])
WAIT_FOR = "pulumi.com/waitFor"


def rollout_max_unavailable(max_replicas: int, serving_slots: int) -> str:
    """The least percentage p such that floor(replicas x p) >= replicas - slots + 1 for every replica count from a
    full pool (slots) up to max_replicas, which Kubernetes rounds down per count.

    (replicas - slots + 1) / replicas grows with the count, so maxReplicas decides. At one replica it stays 0 %
    wherever the pool has two slots or more: a lone replica is never taken down first. With maxReplicas at or
    below the slots it is ceil(100 / slots) %, exactly one pod on a full pool and none below.
    """
    slots = max(serving_slots, 1)
    worst = max(max_replicas, slots)
    return f"{-(-100 * (worst - slots + 1) // worst)}%"


def rollout_strategy(max_replicas: int, serving_slots: int | None) -> k8s.apps.v1.DeploymentStrategyArgs:
    """A rolling update that always completes: one new pod at a time, and as many old pods taken down first as a
    full pool needs for the controller to move."""
    if serving_slots is None:
        # A cluster whose nodes the stack does not know: Kubernetes' defaults (25 % / 25 %), and its autoscaler's room.
        return k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate")
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
            max_surge=1, max_unavailable=rollout_max_unavailable(max_replicas, serving_slots)
        ),
    )
