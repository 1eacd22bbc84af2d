"""How kwok plays the nodes, pods and load balancers of the local control plane: its Stage objects, one YAML file
each under localcluster/stages/ (standalone kwok applies no stage of its own).

Two sets: instant (every node Ready and every pod Running at once: the engine tests) and timed (the scaling
rehearsal). Timed, a node or pod that carries READY_AT becomes Ready at that moment, so that boots, image pulls
and model loads take the time they take on a cloud; a pod without it waits until it has one (cloud.py writes it).
kwok's relative delays would restart on every update of the object; an absolute time does not.
"""

from __future__ import annotations

from pathlib import Path

import yaml

STAGES_DIR = Path(__file__).resolve().parent / "stages"
# An RFC 3339 time: kwok waits until then before the node or pod becomes Ready.
READY_AT = "rehearsal.tfserving.dev/ready-at"
_READY_AT_KEY = f'.metadata.annotations["{READY_AT}"]'
# Timed, these wait for READY_AT. A node without one (made before the run) is up already: kwok's delay from an
# absent value is none (pkg/utils/lifecycle/value_duration_from.go). A pod without one is not played yet.
_WAIT_FOR_READY_AT = ("node-ready", "pod-running")
_NEED_READY_AT = ("pod-running",)


def stage_names() -> list[str]:
    return sorted(path.stem for path in STAGES_DIR.glob("*.yaml"))


def load_stage(name: str) -> dict:
    return yaml.safe_load((STAGES_DIR / f"{name}.yaml").read_text())


def stages(timed: bool = False) -> list[dict]:
    """Every stage kwok plays; `timed` holds new nodes and pods until their READY_AT (the rehearsal)."""
    result = [load_stage(name) for name in stage_names()]
    if timed:
        for stage in result:
            name, spec = stage["metadata"]["name"], stage["spec"]
            if name in _NEED_READY_AT:
                spec["selector"]["matchExpressions"].append({"key": _READY_AT_KEY, "operator": "Exists"})
            if name in _WAIT_FOR_READY_AT:
                spec["delay"] = {"durationFrom": {"jq": {"expression": _READY_AT_KEY}}}
    return result


def write_stages(path: Path, timed: bool = False, extra: list[dict] | None = None) -> Path:
    """kwok's --config: the stages, and any other kwok objects (`extra`: the metrics pipeline's)."""
    path.write_text(yaml.safe_dump_all([*stages(timed), *(extra or [])], sort_keys=False))
    return path
