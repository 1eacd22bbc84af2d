"""The policy pack: `pulumi preview --policy-pack policy` runs it against the stack."""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The pack is imported as the project's package `policy`, and shares its table of machine capacities
# (infra/node_fit.py, plain Python).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.pack import POLICIES

PolicyPack(name="tfserving-gke", policies=POLICIES)
