"""Write the Kubernetes objects a stack declares, as run under mocks, to YAML files for scanners.

python -m tests.infra.render_manifests OUT_DIR [--stack dev]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from tests.infra.harness import run_program, stack_config


def render(stack: str, out_dir: Path) -> list[Path]:
    deployment = run_program(stack_config(stack), stack=stack)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for resource in deployment.resources:
        if resource.type.startswith("kubernetes:") and "kind" in resource.inputs:
            path = out_dir / f"{stack}-{resource.name}.yaml"
            path.write_text(yaml.safe_dump(resource.inputs, sort_keys=False))
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--stack", action="append", help="stack to render (repeatable; default: dev, prod and gpu)")
    args = parser.parse_args()
    for stack in args.stack or ["dev", "prod", "gpu"]:
        for path in render(stack, args.out_dir):
            print(path)


if __name__ == "__main__":
    main()
