"""The bounds of each setting that has them: the whole-number ranges and the fixed choices. Validation reads them
(settings.py, settings_checks.py), and docs/settings.md's bounds column is generated from them
(tools/settings_table.py), so that the page and the refusals never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from infra.accelerators import ACCELERATORS


@dataclass(frozen=True)
class Range:
    """A whole number from `minimum` to `maximum`, both included."""

    minimum: int
    maximum: int

    def describe(self) -> str:
        return f"{self.minimum} to {self.maximum}"


@dataclass(frozen=True)
class Choices:
    values: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join(self.values)


RANGES: dict[str, Range] = {
    "minNodes": Range(0, 1000),
    "maxNodes": Range(1, 1000),
    "initialNodes": Range(0, 1000),
    # GKE's least boot disk is 10 GB; the serving image (4 GB for the GPU build) and its logs want more.
    "diskSizeGb": Range(20, 65536),
    "loadGeneratorNodes": Range(0, 100),
    "minReplicas": Range(1, 1000),
    "maxReplicas": Range(1, 1000),
    "targetCpuUtilization": Range(1, 100),
    "spareReplicas": Range(0, 100),
    "tensorflowIntraOpThreads": Range(0, 512),
    "tensorflowInterOpThreads": Range(0, 512),
    "restApiThreads": Range(0, 4096),
}
CHOICES: dict[str, Choices] = {
    "releaseChannel": Choices(("RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED")),
    "hpaProfile": Choices(("PERFORMANCE", "NONE")),
    "accelerator": Choices(ACCELERATORS),
}


def bounds_text(name: str) -> str:
    """What docs/settings.md says of a setting's bounds; empty for one without (a name, a path, a quantity)."""
    bound = RANGES.get(name) or CHOICES.get(name)
    return bound.describe() if bound else ""
