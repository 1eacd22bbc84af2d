"""What the stack costs an hour, at rest and at full scale, estimated from its settings and one price table.

Prices are Google Cloud's us-central1 list prices in USD per hour, as of 2026-11-28
(Compute Engine VM and GPU pricing pages; GKE pricing for the cluster fee; Cloud Load
Balancing for one forwarding rule). Other regions differ by a few to tens of percent,
sustained-use and committed-use discounts are left out, and so are disk, egress and
Cloud Storage (cents). A machine type or GPU not in the table gives no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.node_pools import LOAD_POOL_MACHINE_TYPE, SYSTEM_POOL_MAX_NODES
from infra.settings_values import ClusterSettings

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
# GKE's management fee per cluster (its free tier covers one zonal cluster per billing account).
CLUSTER_FEE = 0.10
# One forwarding rule of the LoadBalancer Service.
LOAD_BALANCER = 0.025


@dataclass(frozen=True)
class CostInputs:
    machine_type: str
    accelerator: str | None
    spot: bool
    system_machine_type: str
    min_nodes: int
    max_nodes: int
    system_max_nodes: int
    # The in-cluster load generator's pool: none at rest, this many at full scale.
    load_machine_type: str = "e2-standard-2"
    load_max_nodes: int = 0


def _price(table: dict[str, tuple[float, float | None]], name: str, spot: bool) -> float | None:
    prices = table.get(name)
    if prices is None:
        return None
    return prices[1] if spot else prices[0]


def hourly_cost(inputs: CostInputs) -> dict[str, object]:
    """{atRestUsd, atFullScaleUsd, basis}, or {unknown: why} when the table lacks a price."""
    node = _price(MACHINE_PRICES, inputs.machine_type, inputs.spot)
    gpu = _price(GPU_PRICES, inputs.accelerator, inputs.spot) if inputs.accelerator else 0.0
    system = _price(MACHINE_PRICES, inputs.system_machine_type, spot=False)
    load = _price(MACHINE_PRICES, inputs.load_machine_type, spot=False) if inputs.load_max_nodes else 0.0
    missing = [
        name
        for name, price in (
            (f"{inputs.machine_type}{' Spot' if inputs.spot else ''}", node),
            (f"{inputs.accelerator}{' Spot' if inputs.spot else ''}", gpu),
            (inputs.system_machine_type, system),
            (inputs.load_machine_type, load),
        )
        if price is None
    ]
    if missing or node is None or gpu is None or system is None or load is None:
        return {"unknown": f"no price for {', '.join(missing)} in infra/cost.py"}
    fixed = CLUSTER_FEE + LOAD_BALANCER
    serving_node = node + gpu
    return {
        "atRestUsd": round(fixed + system + inputs.min_nodes * serving_node, 3),
        "atFullScaleUsd": round(
            fixed + inputs.system_max_nodes * system + inputs.max_nodes * serving_node + inputs.load_max_nodes * load,
            3,
        ),
        "basis": PRICES_AS_OF,
    }


def stack_cost(settings: ClusterSettings) -> dict[str, object]:
    """The estimate for a stack's cluster settings: its pools, their machine types, GPUs and Spot."""
    return hourly_cost(
        CostInputs(
            machine_type=settings.machine_type,
            accelerator=settings.accelerator,
            spot=settings.spot_nodes,
            system_machine_type=settings.system_machine_type,
            min_nodes=settings.min_nodes,
            max_nodes=settings.max_nodes,
            system_max_nodes=SYSTEM_POOL_MAX_NODES,
            load_machine_type=LOAD_POOL_MACHINE_TYPE,
            load_max_nodes=settings.load_generator_nodes,
        )
    )
