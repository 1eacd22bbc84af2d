"""A machine type's vCPUs and memory, asked of Compute Engine itself in the stack's zone, as zones are (zones.py):
the table of node_fit.py goes stale as Google adds series and sizes, and is used only where Compute Engine cannot
answer yet (a new project's first preview, before its API is enabled).

getMachineTypes lists the zone's machine types matching a filter (terraform-provider-google,
data_source_google_compute_machine_types.go): a name it does not list is not offered in that zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pulumi_gcp as gcp

from infra.node_fit import MIB, NodeCapacity


@dataclass(frozen=True)
class Offered:
    capacity: NodeCapacity
    # ARM64 or X86_64 (empty for some legacy types): TF Serving's images are built for amd64.
    architecture: str


def offered(project: str, zone: str, names: list[str]) -> dict[str, Offered | None] | None:
    """Each name as Compute Engine lists it in the zone (None: not offered there); None when it cannot be asked."""
    wanted = sorted(set(names))
    try:
        listed = gcp.compute.get_machine_types(
            project=project, zone=zone, filter=" OR ".join(f'(name = "{name}")' for name in wanted)
        ).machine_types
    except Exception:
        return None
    found = {
        machine.name: Offered(
            NodeCapacity(machine.name, machine.guest_cpus, Decimal(machine.memory_mb) * MIB), machine.architecture
        )
        for machine in listed
    }
    return {name: found.get(name) for name in wanted}
