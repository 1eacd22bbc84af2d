"""What a GKE node of a given machine type can give to the serving pod.

GKE keeps part of every node for the kubelet and system daemons, and its own
DaemonSets request more on every node; a pod whose requests exceed the rest can
never be scheduled. The reservation follows GKE's published tables ("Plan GKE
Standard node sizes: node allocatable resources"), so a request that cannot fit
is caught before any resource exists. Machine types are checked against Compute
Engine's predefined sizes, so a type that does not exist is refused too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

GIB = Decimal(2**30)
MIB = Decimal(2**20)

# Memory per vCPU in GiB, by family and class; GCE's "GB" are GiB.
_MEMORY_PER_VCPU_GIB: dict[tuple[str, str], Decimal] = {
    ("n1", "standard"): Decimal("3.75"),
    ("n1", "highmem"): Decimal("6.5"),
    ("n1", "highcpu"): Decimal("0.9"),
    **{
        (family, klass): Decimal(per_vcpu)
        for family in ("n2", "n2d", "e2")
        for klass, per_vcpu in (("standard", "4"), ("highmem", "8"), ("highcpu", "1"))
    },
    # The newer series' highcpu types have 2 GB per vCPU, not 1 (Compute Engine's machine family guides).
    **{
        (family, klass): Decimal(per_vcpu)
        for family in ("n4", "c3", "c3d", "c4")
        for klass, per_vcpu in (("standard", "4"), ("highmem", "8"), ("highcpu", "2"))
    },
    ("t2d", "standard"): Decimal("4"),
    ("g2", "standard"): Decimal("4"),
    ("c2", "standard"): Decimal("4"),
    ("c2d", "standard"): Decimal("4"),
    ("c2d", "highmem"): Decimal("8"),
    ("c2d", "highcpu"): Decimal("2"),
}

# The vCPU counts Compute Engine offers per family and class (its "machine families" guide).
_N1_SIZES = (2, 4, 8, 16, 32, 64, 96)
_N2_SIZES = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
_VCPU_SIZES: dict[tuple[str, str], tuple[int, ...]] = {
    ("n1", "standard"): (1, *_N1_SIZES),
    ("n1", "highmem"): _N1_SIZES,
    ("n1", "highcpu"): _N1_SIZES,
    ("n2", "standard"): _N2_SIZES,
    ("n2", "highmem"): _N2_SIZES,
    ("n2", "highcpu"): _N2_SIZES[:-1],
    ("n2d", "standard"): (*_N2_SIZES, 224),
    ("n2d", "highmem"): _N2_SIZES[:-1],
    ("n2d", "highcpu"): (*_N2_SIZES, 224),
    ("e2", "standard"): (2, 4, 8, 16, 32),
    ("e2", "highmem"): (2, 4, 8, 16),
    ("e2", "highcpu"): (2, 4, 8, 16, 32),
    ("n4", "standard"): (2, 4, 8, 16, 32, 48, 64, 80),
    ("n4", "highmem"): (2, 4, 8, 16, 32, 48, 64, 80),
    ("n4", "highcpu"): (2, 4, 8, 16, 32, 48, 64, 80),
    ("c3", "standard"): (4, 8, 22, 44, 88, 176),
    ("c3", "highmem"): (4, 8, 22, 44, 88, 176),
    ("c3", "highcpu"): (4, 8, 22, 44, 88, 176),
    ("c3d", "standard"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("c3d", "highmem"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("c3d", "highcpu"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("c4", "standard"): (2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288),
    ("c4", "highmem"): (2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288),
    ("c4", "highcpu"): (2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288),
    ("g2", "standard"): (4, 8, 12, 16, 24, 32, 48, 96),
    ("t2d", "standard"): (1, 2, 4, 8, 16, 32, 48, 60),
    ("c2", "standard"): (4, 8, 16, 30, 60),
    ("c2d", "standard"): (2, 4, 8, 16, 32, 56, 112),
    ("c2d", "highmem"): (2, 4, 8, 16, 32, 56, 112),
    ("c2d", "highcpu"): (2, 4, 8, 16, 32, 56, 112),
}
# Shared-core E2 types: fine for the small system pool, never sized for serving.
SHARED_CORE_TYPES = ("e2-micro", "e2-small", "e2-medium")
# Arm series: TF Serving's images are built for amd64 only.
ARM_FAMILIES = ("t2a", "c4a", "n4a")
# What Compute Engine itself said of machine types this run (machine_types.py): it wins over the table above,
# which stays for a preview before the Compute Engine API answers, and for the local control plane.
_ASKED: dict[str, NodeCapacity] = {}
# Names Compute Engine answered about this run, offered or not: their problems are its to say, not the table's.
_ANSWERED: set[str] = set()

# What GKE's own DaemonSets request on every node (logging and metrics agents, the metadata server,
# Dataplane V2's agent, the CSI driver, Managed Prometheus' collector). GKE does not publish one
# figure; this is a deliberately generous budget. Check a live node with `kubectl describe node`.
DAEMONSET_CPU = Decimal("0.4")
DAEMONSET_MEMORY_BYTES = 512 * MIB

_PREDEFINED = re.compile(r"^(?P<family>[a-z0-9]+)-(?P<klass>standard|highmem|highcpu)-(?P<vcpus>\d+)$")
_CUSTOM = re.compile(r"^(?:(?P<family>[a-z0-9]+)-)?custom-(?P<vcpus>\d+)-(?P<memory_mib>\d+)(?:-ext)?$")

# (size of the band, share reserved) in order, from GKE's tables.
_CPU_RESERVATION = ((1, Decimal("0.06")), (1, Decimal("0.01")), (2, Decimal("0.005")), (None, Decimal("0.0025")))
_MEMORY_RESERVATION_GIB = (
    (4, Decimal("0.25")),
    (4, Decimal("0.20")),
    (8, Decimal("0.10")),
    (112, Decimal("0.06")),
    (None, Decimal("0.02")),
)
_EVICTION_THRESHOLD = 100 * MIB


@dataclass(frozen=True)
class NodeCapacity:
    """A machine type's raw size and what GKE leaves allocatable to pods."""

    machine_type: str
    vcpus: int
    memory_bytes: Decimal

    @property
    def allocatable_cpu(self) -> Decimal:
        return self.vcpus - _reserved(Decimal(self.vcpus), _CPU_RESERVATION)

    @property
    def allocatable_memory_bytes(self) -> Decimal:
        reserved = _reserved(self.memory_bytes / GIB, _MEMORY_RESERVATION_GIB) * GIB
        return self.memory_bytes - reserved - _EVICTION_THRESHOLD

    @property
    def schedulable_cpu(self) -> Decimal:
        """What a workload pod can request once GKE's DaemonSets have theirs."""
        return self.allocatable_cpu - DAEMONSET_CPU

    @property
    def schedulable_memory_bytes(self) -> Decimal:
        return self.allocatable_memory_bytes - DAEMONSET_MEMORY_BYTES


def _reserved(amount: Decimal, bands: tuple[tuple[int | None, Decimal], ...]) -> Decimal:
    reserved, remaining = Decimal(0), amount
    for size, share in bands:
        portion = remaining if size is None else min(remaining, Decimal(size))
        reserved += portion * share
        remaining -= portion
        if remaining <= 0:
            break
    return reserved


def remember(answered: list[str], capacities: list[NodeCapacity]) -> None:
    """What Compute Engine said this run, in place of what an earlier run of this process said."""
    _ANSWERED.clear()
    _ANSWERED.update(answered)
    _ASKED.clear()
    _ASKED.update({capacity.machine_type: capacity for capacity in capacities})


def compute_engine_answered(machine_type: str) -> bool:
    return machine_type in _ANSWERED


def known_families() -> list[str]:
    return sorted({family for family, _ in _MEMORY_PER_VCPU_GIB})


def machine_type_problem(machine_type: str) -> str | None:
    """Why Compute Engine has no such machine type, or None when it has."""
    if machine_type in SHARED_CORE_TYPES or machine_type in _ASKED:
        return None
    if machine_type.split("-", 1)[0] in ARM_FAMILIES:
        return "it is an Arm machine, and TF Serving's images are built for amd64"
    if custom := _CUSTOM.fullmatch(machine_type):
        return _custom_problem(
            custom["family"] or "n1", int(custom["vcpus"]), int(custom["memory_mib"]), machine_type.endswith("-ext")
        )
    predefined = _PREDEFINED.fullmatch(machine_type)
    if not predefined:
        return "it is not FAMILY-standard|highmem|highcpu-N, custom-CPUS-MEMORY_MB or " + "/".join(SHARED_CORE_TYPES)
    sizes = _VCPU_SIZES.get((predefined["family"], predefined["klass"]))
    if sizes is None:
        return f"its family and class are not known here (families: {', '.join(known_families())})"
    if int(predefined["vcpus"]) not in sizes:
        family_class = f"{predefined['family']}-{predefined['klass']}"
        return f"{family_class} comes with {', '.join(map(str, sizes))} vCPUs"
    return None


# Custom machine types per series: the vCPU counts allowed and the MB of memory per vCPU; extended memory
# ("-ext") lifts the maximum where the series has it. From Google's own helper, golang-samples
# compute/instances/custom-machine-type/create_with_helper.go. No prefix ("custom-4-15360") is N1.
_CUSTOM_LIMITS: dict[str, tuple[tuple[int, ...], str, int, int, bool]] = {
    "n1": ((1, *range(2, 97, 2)), "1, or an even number up to 96,", 922, 6656, True),
    "n2": (
        (*range(2, 33, 2), *range(36, 129, 4)),
        "an even number up to 32, then a multiple of 4 up to 128,",
        512,
        8192,
        True,
    ),
    "n2d": ((2, 4, 8, 16, 32, 48, 64, 80, 96), "2, 4, 8, 16, 32, 48, 64, 80 or 96", 512, 8192, True),
    "e2": (tuple(range(2, 33, 2)), "an even number from 2 to 32,", 512, 8192, False),
}


def _custom_problem(family: str, vcpus: int, memory_mib: int, extended: bool) -> str | None:
    if family not in _CUSTOM_LIMITS:
        return f"custom types exist for {', '.join(_CUSTOM_LIMITS)}, not {family}"
    cores, allowed, least, most, can_extend = _CUSTOM_LIMITS[family]
    series = f"{family.upper()} custom types"
    if vcpus not in cores:
        return f"{series} have {allowed} vCPUs, not {vcpus}"
    if memory_mib % 256:
        return f"a custom type's memory is a multiple of 256 MB, not {memory_mib}"
    if memory_mib < least * vcpus:
        return f"{series} have at least {least} MB per vCPU ({least * vcpus} for {vcpus})"
    if memory_mib > most * vcpus and not (extended and can_extend):
        extend = " (or add -ext for extended memory)" if can_extend else ""
        return f"{series} have at most {most} MB per vCPU ({most * vcpus} for {vcpus}){extend}"
    return None


def node_capacity(machine_type: str) -> NodeCapacity | None:
    """The capacity of an existing predefined or custom machine type; None when unknown or shared-core."""
    if machine_type in _ASKED:
        return _ASKED[machine_type]
    if machine_type_problem(machine_type) is not None or machine_type in SHARED_CORE_TYPES:
        return None
    if custom := _CUSTOM.fullmatch(machine_type):
        return NodeCapacity(machine_type, int(custom["vcpus"]), Decimal(custom["memory_mib"]) * MIB)
    predefined = _PREDEFINED.fullmatch(machine_type)
    assert predefined is not None
    per_vcpu = _MEMORY_PER_VCPU_GIB[(predefined["family"], predefined["klass"])]
    vcpus = int(predefined["vcpus"])
    return NodeCapacity(machine_type, vcpus, vcpus * per_vcpu * GIB)


def pods_per_node(machine_type: str, cpu: Decimal, memory_bytes: Decimal, gpu: bool = False) -> int | None:
    """Serving pods one node holds after GKE's reservation and its DaemonSets (one per node where each takes the
    node's GPU); None for a machine type the table lacks."""
    capacity = node_capacity(machine_type)
    if capacity is None or cpu <= 0 or memory_bytes <= 0:
        return None
    fits = int(min(capacity.schedulable_cpu // cpu, capacity.schedulable_memory_bytes // memory_bytes))
    return min(fits, 1) if gpu else fits


def serving_slots(machine_type: str, max_nodes: int, cpu_request: str, memory_request: str, gpu: bool) -> int | None:
    """Serving pods the pool holds at its largest; None for a machine type the table lacks."""
    per_node = pods_per_node(machine_type, parse_quantity(cpu_request), parse_quantity(memory_request), gpu)
    return None if per_node is None else per_node * max_nodes
