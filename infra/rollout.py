"""How the serving Deployment rolls onto a new model, image or server setting, so that a rollout always completes
(docs/operations.md, "Rollouts that always complete"; tests/engine/test_rollout.py)."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def rollout_max_unavailable(serving_slots: int) -> str:
    """Kubernetes rounds maxUnavailable down: ceil(100 / slots) % is 0 below a full pool (the new pod gets a node,
    no replica is lost) and 1 on a full one. A pool of one slot can only roll by taking its replica down."""
    return f"{-(-100 // max(serving_slots, 1))}%"


def rollout_strategy(serving_slots: int | None) -> k8s.apps.v1.DeploymentStrategyArgs:
    """A rolling update that always completes: one new pod at a time, and, once the replicas fill every slot of the
    pool (where a new pod could wait for a node forever), one old pod taken down first."""
    if serving_slots is None:
        # A cluster the user already has: its room is unknown; Kubernetes' defaults (25 % / 25 %).
        return k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate")
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
            max_surge=1, max_unavailable=rollout_max_unavailable(serving_slots)
        ),
    )
