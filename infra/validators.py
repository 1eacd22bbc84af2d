"""Grammars and checks that any setting may need, each adding one line per problem to a list: Cloud Storage bucket
names, folder paths, image references, Kubernetes quantities and CIDR ranges. settings.py applies them to keys."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

from infra.node_fit import MIB

# Cloud Storage's naming rules ("Bucket names"); dotted names are refused below, with the reason.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_IP_ADDRESS_FORM = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")

# The Docker reference grammar (distribution/reference): an optional registry host (a first part with a
# dot or a port, or localhost), a lowercase repository path, and a non-empty tag and/or a sha256 digest.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+|localhost)/"
_IMAGE = re.compile(
    rf"^(?:{_REGISTRY})?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
# A memory quantity without a unit is bytes; below this it cannot hold TF Serving and is surely a slip.
MEMORY_FLOOR = 256 * MIB


def check_cidrs(cidrs: tuple[str, ...], key: str, problems: list[str], most: int | None = None) -> None:
    """CIDR ranges with their prefix length: Google's APIs refuse a bare address that Python would accept."""
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr)
            valid = "/" in cidr
        except ValueError:
            valid = False
        if not valid:
            problems.append(
                f"{key} entry {cidr!r} is not a CIDR range; write it like 203.0.113.0/24 (a prefix length)."
            )
    if most is not None and len(cidrs) > most:
        problems.append(f"{key} lists {len(cidrs)} ranges; GKE takes at most {most}: merge them into wider ones.")


def is_folder_path(path: str) -> bool:
    """Non-empty segments of plain characters, none of them `.` or `..`."""
    segments = path.split("/")
    return all(_PATH_SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in segments)


def bucket_name_problem(name: str) -> str | None:
    """Why Cloud Storage would refuse this bucket name, or None."""
    if not _BUCKET_NAME.fullmatch(name):
        return "use 3-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"
    if "." in name:
        return "names with dots need a verified domain; use '-' instead"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "Cloud Storage refuses names that start with 'goog' or contain 'google'"
    if _IP_ADDRESS_FORM.fullmatch(name):
        return "Cloud Storage refuses names in IP-address form"
    return None


def image_tag(image: str) -> str:
    """The tag of an image reference ('' for none, or for what is no reference)."""
    match = _IMAGE.fullmatch(image)
    return (match["tag"] or "") if match else ""


def check_image(image: str, key: str, problems: list[str]) -> None:
    match = _IMAGE.fullmatch(image)
    if not match:
        problems.append(
            f"{key} {image!r} is not an image reference; write it like tensorflow/serving:2.8.0 "
            "(lowercase repository, no spaces)."
        )
    elif not match["tag"] and not match["digest"]:
        problems.append(f"{key} {image!r} has no tag or digest; pin one, e.g. tensorflow/serving:2.8.0.")


def positive_quantity(raw: str, key: str, example: str, problems: list[str]) -> Decimal | None:
    try:
        if raw != raw.strip() or " " in raw:
            raise ValueError("spaces")
        value = parse_quantity(raw)
    except ValueError:
        problems.append(f"{key} {raw!r} is not a Kubernetes quantity; write it like {example}, without spaces.")
        return None
    if value <= 0:
        problems.append(f"{key} must be above zero, not {raw!r}.")
        return None
    return value


def memory_quantity(raw: str, key: str, example: str, problems: list[str]) -> Decimal | None:
    """A memory quantity TF Serving can live in: a bare number means bytes (`4` is 4 bytes, as an unquoted YAML 4
    becomes), which is refused below the floor; `4e9` and `4Gi` are both valid Kubernetes quantities."""
    value = positive_quantity(raw, key, example, problems)
    if value is not None and value < MEMORY_FLOOR:
        problems.append(
            f"{key} {raw!r} is {value} bytes, too little for TF Serving; give a unit, like {example} "
            "(YAML turns an unquoted 4 into 4 bytes)."
        )
        return None
    return value


# The API server rounds a CPU quantity up to a millicore; below this a replica cannot serve ResNet101 at all.
CPU_FLOOR = Decimal("0.1")


def cpu_quantity(raw: str, key: str, example: str, problems: list[str]) -> Decimal | None:
    """A CPU quantity in whole millicores (Kubernetes' precision), of at least CPU_FLOOR."""
    value = positive_quantity(raw, key, example, problems)
    if value is None:
        return None
    if value * 1000 != (value * 1000).to_integral_value():
        problems.append(f"{key} {raw!r} is finer than a millicore, Kubernetes' precision; write it like {example}.")
        return None
    if value < CPU_FLOOR:
        floor = f"{CPU_FLOOR * 1000:.0f}m"
        problems.append(f"{key} {raw!r} is below {floor}, too little to serve; write it like {example}.")
        return None
    return value
