"""The policy pack: `pulumi preview --policy-pack policy` runs it against the stack."""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The pack shares the project's table of machine capacities (infra/capacity.py, plain Python).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules import POLICIES

PolicyPack(name="tfserving-gke", policies=POLICIES)
