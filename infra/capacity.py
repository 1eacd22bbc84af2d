"""What a GKE node of a given machine type can give to pods.

GKE keeps part of every node for the kubelet and system daemons; a pod whose
requests exceed the rest can never be scheduled. The figures follow GKE's
published reservation tables ("Standard cluster architecture: node allocatable
resources"), so a request that cannot fit is caught before any resource exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

GIB = Decimal(2**30)
MIB = Decimal(2**20)

# Memory per vCPU in GiB, by family and class; GCE's "GB" are GiB.
_MEMORY_PER_VCPU_GIB: dict[tuple[str, str], Decimal] = {
    ("n1", "standard"): Decimal("3.75"),
    ("n1", "highmem"): Decimal("6.5"),
    ("n1", "highcpu"): Decimal("0.9"),
    **{
        (family, klass): Decimal(per_vcpu)
        for family in ("n2", "n2d", "e2", "n4", "c3", "c3d", "c4")
        for klass, per_vcpu in (("standard", "4"), ("highmem", "8"), ("highcpu", "1"))
    },
    ("c2", "standard"): Decimal("4"),
    ("c2d", "standard"): Decimal("4"),
    ("c2d", "highmem"): Decimal("8"),
    ("c2d", "highcpu"): Decimal("2"),
}

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


def _reserved(amount: Decimal, bands: tuple[tuple[int | None, Decimal], ...]) -> Decimal:
    reserved, remaining = Decimal(0), amount
    for size, share in bands:
        portion = remaining if size is None else min(remaining, Decimal(size))
        reserved += portion * share
        remaining -= portion
        if remaining <= 0:
            break
    return reserved


def known_families() -> list[str]:
    return sorted({family for family, _ in _MEMORY_PER_VCPU_GIB})


def node_capacity(machine_type: str) -> NodeCapacity | None:
    """The capacity of a predefined or custom machine type; None when unknown."""
    if custom := _CUSTOM.match(machine_type):
        return NodeCapacity(machine_type, int(custom["vcpus"]), Decimal(custom["memory_mib"]) * MIB)
    predefined = _PREDEFINED.match(machine_type)
    if not predefined:
        return None
    per_vcpu = _MEMORY_PER_VCPU_GIB.get((predefined["family"], predefined["klass"]))
    if per_vcpu is None:
        return None
    vcpus = int(predefined["vcpus"])
    return NodeCapacity(machine_type, vcpus, vcpus * per_vcpu * GIB)
