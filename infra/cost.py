"""What the stack costs an hour, at rest and at full scale, estimated from its settings and one price table.

Prices are Google Cloud's us-central1 list prices in USD, as of 2026-11-28: Compute Engine VM and GPU pricing
(per hour), Persistent Disk pricing (pd-balanced, per GB-month, 730 hours to a month), an external IPv4 address
in use by a VM (VPC network pricing, per hour), GKE pricing for the cluster fee and Cloud Load Balancing for one
forwarding rule. Other regions differ by a few to tens of percent; sustained-use and committed-use discounts, egress
and Cloud Storage (cents) are left out. A machine type or GPU not in the table gives no estimate.

At rest each pool holds what the stack keeps without load: the serving pool the larger of its minNodes and the
nodes its minReplicas and spareReplicas fill; at full scale, each pool its most.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

from infra.node_fit import pods_per_node
from infra.node_pools import LOAD_POOL_MACHINE_TYPE, SMALL_POOL_DISK_GB, SYSTEM_POOL_MAX_NODES
from infra.settings_values import ClusterSettings, ServingSettings

PRICES_AS_OF = "us-central1 list prices of 2026-11-28 (infra/cost.py)"
# (on-demand, Spot) per hour; None where the table has no Spot price.
MACHINE_PRICES: dict[str, tuple[float, float | None]] = {
    "n1-standard-4": (0.19, 0.052),
    "n1-standard-8": (0.38, 0.104),
    "n2-standard-8": (0.3885, None),
    "e2-medium": (0.0335, None),
    "e2-standard-2": (0.067, None),
}
GPU_PRICES: dict[str, tuple[float, float | None]] = {
    "nvidia-tesla-t4": (0.35, 0.175),
}
# A boot disk, pd-balanced (GKE's default type), per GB-month; a month is 730 hours.
PD_BALANCED_GB_MONTH = 0.10
HOURS_PER_MONTH = 730
# An external IPv4 address in use by a VM, per hour; a node has one unless the nodes are private.
EXTERNAL_IPV4_HOUR = 0.005
# GKE's management fee per cluster (its free tier covers one zonal cluster per billing account).
CLUSTER_FEE = 0.10
# One forwarding rule of the LoadBalancer Service.
LOAD_BALANCER = 0.025


@dataclass(frozen=True)
class PoolCost:
    """One node pool: its nodes' machine, GPU, Spot and boot disk, and how many it holds at rest and at most."""

    machine_type: str
    accelerator: str | None
    spot: bool
    disk_gb: int
    at_rest: int
    at_full_scale: int


@dataclass(frozen=True)
class CostInputs:
    pools: tuple[PoolCost, ...]
    # Each node has an external IPv4 address (privateNodes off).
    public_nodes: bool


def _price(table: dict[str, tuple[float, float | None]], name: str, spot: bool) -> float | None:
    prices = table.get(name)
    if prices is None:
        return None
    return prices[1] if spot else prices[0]


def node_hourly(pool: PoolCost, public: bool) -> float | None:
    """One node of the pool an hour: machine, GPU, boot disk and address; None where the table lacks a price."""
    machine = _price(MACHINE_PRICES, pool.machine_type, pool.spot)
    gpu = _price(GPU_PRICES, pool.accelerator, pool.spot) if pool.accelerator else 0.0
    if machine is None or gpu is None:
        return None
    return machine + gpu + pool.disk_gb * PD_BALANCED_GB_MONTH / HOURS_PER_MONTH + (EXTERNAL_IPV4_HOUR if public else 0)


def hourly_cost(inputs: CostInputs) -> dict[str, object]:
    """{atRestUsd, atFullScaleUsd, basis}, or {unknown: why} when the table lacks a price."""
    prices = [(pool, node_hourly(pool, inputs.public_nodes)) for pool in inputs.pools]
    missing = [
        f"{pool.machine_type}{f' with {pool.accelerator}' if pool.accelerator else ''}{' Spot' if pool.spot else ''}"
        for pool, price in prices
        if price is None and pool.at_full_scale
    ]
    if missing:
        return {"unknown": f"no price for {', '.join(missing)} in infra/cost.py"}
    fixed = CLUSTER_FEE + LOAD_BALANCER
    return {
        "atRestUsd": round(fixed + sum(pool.at_rest * (price or 0) for pool, price in prices), 3),
        "atFullScaleUsd": round(fixed + sum(pool.at_full_scale * (price or 0) for pool, price in prices), 3),
        "basis": PRICES_AS_OF,
    }


def serving_nodes_at_rest(cluster: ClusterSettings, serving: ServingSettings) -> int:
    """The larger of minNodes and the nodes minReplicas and spareReplicas fill, at the replicas a node holds."""
    per_node = pods_per_node(
        cluster.machine_type,
        Decimal(str(parse_quantity(serving.cpu_request))),
        Decimal(str(parse_quantity(serving.memory_request))),
        gpu=cluster.accelerator is not None,
    )
    pods = serving.min_replicas + serving.spare_replicas
    return max(cluster.min_nodes, -(-pods // per_node) if per_node else pods)


def cost_inputs(cluster: ClusterSettings, serving: ServingSettings) -> CostInputs:
    """The stack's pools as the price table sees them."""
    serving_pool = PoolCost(
        cluster.machine_type,
        cluster.accelerator,
        cluster.spot_nodes,
        cluster.disk_size_gb,
        serving_nodes_at_rest(cluster, serving),
        cluster.max_nodes,
    )
    return stack_pools(serving_pool, cluster.system_machine_type, cluster.load_generator_nodes, cluster.private_nodes)


def stack_pools(serving: PoolCost, system_machine_type: str, load_generator_nodes: int, private: bool) -> CostInputs:
    """Every pool the stack has around its serving pool: the system pool (one node at rest, two at most) and the
    load-generator pool (none at rest). A capacity plan (loadtest/plan.py) prices its serving pool with this too."""
    return CostInputs(
        pools=(
            PoolCost(system_machine_type, None, False, SMALL_POOL_DISK_GB, 1, SYSTEM_POOL_MAX_NODES),
            serving,
            PoolCost(LOAD_POOL_MACHINE_TYPE, None, False, SMALL_POOL_DISK_GB, 0, load_generator_nodes),
        ),
        public_nodes=not private,
    )


def stack_cost(cluster: ClusterSettings, serving: ServingSettings) -> dict[str, object]:
    """The estimate the stack exports as estimatedCostPerHour."""
    return hourly_cost(cost_inputs(cluster, serving))
