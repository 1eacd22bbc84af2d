"""Whether a zone exists, asked of Compute Engine itself (a table of zones would go stale as Google adds them).

getZones lists the project's zones and keeps those whose region ends in the one asked for
(terraform-provider-google, data_source_google_compute_zones.go), so a region that does not exist gives none.
"""

from __future__ import annotations

import pulumi_gcp as gcp


def zone_problem(project: str, zone: str) -> str | None:
    """Why Compute Engine has no such zone for this project, or None when it has one or cannot say yet."""
    region = zone.rsplit("-", 1)[0]
    try:
        names = gcp.compute.get_zones(project=project, region=region).names
    except Exception:
        return None
    if zone in names:
        return None
    if not names:
        return f"{zone!r} is in no region Compute Engine has ({region}); pick one from `gcloud compute zones list`."
    return f"{zone!r} is not a zone of {region}, which has {', '.join(sorted(names))}."
