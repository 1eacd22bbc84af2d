"""From a replica's capacity to a plan: replicas, nodes, the stack's settings, what it costs and the quotas it needs.

The arithmetic, once: a replica serves `rate` requests/s, the lower of its rate at the HPA's target (the target
keeps the headroom: the HPA adds a replica before the others saturate) and its rate within the p95 objective.
The peak needs ceil(R / rate) replicas, so maxReplicas; a node holds `per_node` of them (infra/node_fit.py), so
maxNodes = ceil(maxReplicas / per_node). The cost comes from infra/cost.py, the table the stack's own
estimatedCostPerHour uses: at rest with minReplicas (and spares) on their nodes, at peak with every pool at its most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

from infra.accelerators import GPUS, NONE
from infra.cost import GPU_PRICES, MACHINE_PRICES, PoolCost, hourly_cost, stack_pools
from infra.node_fit import node_capacity, pods_per_node
from infra.node_pools import SMALL_POOL_DISK_GB, SYSTEM_POOL_MAX_NODES
from loadtest.capacity import Capacity, levels

# What many new projects get, as docs/operations.md cites it; the plan names a need above it.
SSD_TOTAL_GB_DEFAULT = 500


class PlanError(ValueError):
    """The plan cannot be made; the message says why and what to change, in one line."""


@dataclass(frozen=True)
class Machine:
    """The serving nodes a plan prices: a machine type, its GPU if any, Spot or not."""

    machine_type: str
    accelerator: str
    spot: bool

    def __str__(self) -> str:
        gpu = f" + {self.accelerator}" if self.accelerator else ""
        return f"{self.machine_type}{gpu}{' Spot' if self.spot else ''}"


@dataclass(frozen=True)
class Stack:
    """What a plan keeps of the stack's settings."""

    machine: Machine
    cpu_request: str
    memory_request: str
    min_replicas: int
    spare_replicas: int
    min_nodes: int
    disk_gb: int
    system_machine_type: str
    load_generator_nodes: int
    private_nodes: bool

    @classmethod
    def from_settings(
        cls, values: dict[str, object], machine_type: str | None = None, spot: bool | None = None
    ) -> Stack:
        """The stack's settings (Pulumi.yaml's defaults and its stack file), with its machine type or Spot changed."""
        accelerator = str(values["accelerator"])
        machine = Machine(
            machine_type or str(values["machineType"]),
            "" if accelerator == NONE else accelerator,
            bool(values["spotNodes"]) if spot is None else spot,
        )
        return cls(
            machine,
            str(values["cpuRequest"]),
            str(values["memoryRequest"]),
            int(str(values["minReplicas"])),
            int(str(values["spareReplicas"])),
            int(str(values["minNodes"])),
            int(str(values["diskSizeGb"])),
            str(values["systemMachineType"]),
            int(str(values["loadGeneratorNodes"])),
            bool(values["privateNodes"]),
        )


@dataclass(frozen=True)
class Plan:
    machine: Machine
    rate_per_replica: float
    limited_by: str
    replicas_at_peak: int
    per_node: int
    min_nodes: int
    max_nodes: int
    at_rest_usd: float | None
    at_peak_usd: float | None
    per_million_usd: float | None
    quotas: dict[str, int]
    settings: dict[str, object]


def rate_per_replica(capacity: Capacity, p95_ms: float) -> tuple[float, str]:
    """The rate a replica is planned at, and what limits it."""
    bound = capacity.rate_under_p95(p95_ms)
    if not capacity.observations:
        return capacity.rps_at_target, (
            f"the HPA's {capacity.target_percent} % target; the p95 objective is not checked (no latency under load "
            "was measured)"
        )
    if bound is None:
        best = min((level.median_p95_ms for level in levels(capacity) if level.median_p95_ms is not None), default=None)
        seen = f"the best level's median p95 was {best:.0f} ms" if best is not None else "no p95 was measured"
        raise PlanError(f"--p95 {p95_ms:g}: no level of the run met it ({seen}); allow more, or measure a faster setup")
    within, samples = bound
    if within < capacity.rps_at_target:
        return within, f"the p95 objective (the busiest level that met it: {samples} samples)"
    held = "the p95 objective held at every level measured"
    return capacity.rps_at_target, f"the HPA's {capacity.target_percent} % target ({held})"


def make_plan(capacity: Capacity, rps: float, p95_ms: float, stack: Stack) -> Plan:
    rate, limited_by = rate_per_replica(capacity, p95_ms)
    machine = stack.machine
    per_node = pods_per_node(
        machine.machine_type,
        Decimal(str(parse_quantity(stack.cpu_request))),
        Decimal(str(parse_quantity(stack.memory_request))),
        gpu=bool(machine.accelerator),
    )
    if not per_node:
        raise PlanError(
            f"--machine-type {machine.machine_type}: a replica of {stack.cpu_request} CPU and "
            f"{stack.memory_request} does not fit one (or the table does not know it); choose a larger type"
        )
    replicas = max(stack.min_replicas, math.ceil(rps / rate))
    max_nodes = max(stack.min_nodes, math.ceil((replicas + stack.spare_replicas) / per_node))
    at_rest_nodes = max(stack.min_nodes, math.ceil((stack.min_replicas + stack.spare_replicas) / per_node))
    serving = PoolCost(
        machine.machine_type, machine.accelerator or None, machine.spot, stack.disk_gb, at_rest_nodes, max_nodes
    )
    cost = hourly_cost(stack_pools(serving, stack.system_machine_type, stack.load_generator_nodes, stack.private_nodes))
    at_rest = cost.get("atRestUsd")
    at_peak = cost.get("atFullScaleUsd")
    settings: dict[str, object] = {
        "machineType": machine.machine_type,
        "minNodes": stack.min_nodes,
        "maxNodes": max_nodes,
        "maxReplicas": replicas,
        "targetCpuUtilization": capacity.target_percent,
    }
    if machine.spot:
        settings["spotNodes"] = True
    return Plan(
        machine,
        rate,
        limited_by,
        replicas,
        per_node,
        at_rest_nodes,
        max_nodes,
        float(at_rest) if isinstance(at_rest, float) else None,
        float(at_peak) if isinstance(at_peak, float) else None,
        float(at_peak) / (rps * 3600) * 1e6 if isinstance(at_peak, float) else None,
        quotas(stack, max_nodes),
        settings,
    )


def quotas(stack: Stack, max_nodes: int) -> dict[str, int]:
    """What the plan takes of a region's quotas at its largest (docs/operations.md's table)."""
    serving = node_capacity(stack.machine.machine_type)
    system = node_capacity(stack.system_machine_type)
    nodes = max_nodes + SYSTEM_POOL_MAX_NODES + stack.load_generator_nodes
    needs = {
        "CPUS": (serving.vcpus if serving else 0) * max_nodes
        + (system.vcpus if system else 0) * (SYSTEM_POOL_MAX_NODES + stack.load_generator_nodes),
        "SSD_TOTAL_GB": stack.disk_gb * max_nodes + SMALL_POOL_DISK_GB * (nodes - max_nodes),
        # One address a node unless the nodes are private, and the load balancer's.
        "IN_USE_ADDRESSES": (0 if stack.private_nodes else nodes) + 1,
    }
    if stack.machine.accelerator:
        needs["GPUS"] = max_nodes
    return needs


def alternatives(stack: Stack) -> list[Machine]:
    """The machine asked for, then what the price table also prices: Spot of it, and the other machine types
    (with the same GPU, if any), on demand and Spot."""
    asked = stack.machine
    gpu_spot = GPU_PRICES.get(asked.accelerator, (0.0, 0.0))[1] if asked.accelerator else 0.0
    families = GPUS[asked.accelerator].machine_families if asked.accelerator else None
    found = [asked]
    for machine_type, (_, spot_price) in MACHINE_PRICES.items():
        if families and machine_type.split("-")[0] not in families:
            continue
        for spot in (False, True):
            if spot and (spot_price is None or gpu_spot is None):
                continue
            candidate = Machine(machine_type, asked.accelerator, spot)
            if candidate not in found:
                found.append(candidate)
    return found
