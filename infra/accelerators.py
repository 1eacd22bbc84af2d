"""The GPUs a serving pool can carry, and what each needs: a machine type, a zone that offers it, an image.

Compute Engine attaches a T4 only to N1 machine types and an L4 only to G2 ones
("GPU platforms"). Zones that offer each GPU are known here for the regions listed
(`gcloud compute accelerator-types list`); in other regions the check cannot tell
and docs/gpu.md says how to look. TF Serving's 2.8.0 GPU build is compiled for
compute capabilities up to sm_75 plus compute_80 PTX: a T4 (sm_75) runs it natively;
an L4 (sm_89) would JIT-compile PTX at start, which can take very long.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.validators import image_tag

NONE = "none"


@dataclass(frozen=True)
class Gpu:
    name: str
    machine_families: tuple[str, ...]
    zones_by_region: dict[str, tuple[str, ...]]
    # Image tags (by prefix) known not to carry kernels for this GPU.
    unsupported_image_tags: tuple[str, ...] = ()


GPUS = {
    gpu.name: gpu
    for gpu in (
        Gpu("nvidia-tesla-t4", ("n1",), {"us-central1": ("a", "b", "c", "f")}),
        Gpu("nvidia-l4", ("g2",), {"us-central1": ("a", "b", "c")}, unsupported_image_tags=("2.8.",)),
    )
}
ACCELERATORS = (NONE, *GPUS)


def gpu_problems(accelerator: str, zone: str, machine_type: str, image: str) -> list[str]:
    """Why this GPU cannot serve in this zone, on this machine type, with this image; empty when it can."""
    gpu = GPUS[accelerator]
    problems = []
    region, zone_letter = zone.rsplit("-", 1)
    offered = gpu.zones_by_region.get(region)
    if offered is not None and zone_letter not in offered:
        zones = ", ".join(f"{region}-{letter}" for letter in offered)
        problems.append(f"zone {zone} does not offer {accelerator}; choose one of {zones}")
    # "custom-CPUS-MB", without a series, is an N1 custom type (a T4 attaches to it).
    family = "n1" if machine_type.startswith("custom-") else machine_type.split("-", 1)[0]
    if family not in gpu.machine_families:
        problems.append(
            f"{accelerator} attaches only to {'/'.join(gpu.machine_families)} machine types, not {machine_type}"
        )
    tag = image_tag(image)
    if "@sha256:" not in image and not tag.endswith("-gpu"):
        problems.append(f"image {image} is not a GPU build; use one tagged -gpu, e.g. tensorflow/serving:2.8.0-gpu")
    if any(tag.startswith(prefix) for prefix in gpu.unsupported_image_tags):
        problems.append(
            f"{image} is not compiled for {accelerator}'s compute capability (it would JIT-compile PTX at every "
            "start, which can take very long); use nvidia-tesla-t4, or a TF Serving GPU build that targets it"
        )
    return problems
