"""CrossGuard policy pack: run with `pulumi preview --policy-pack policy`
(and `--policy-pack-config policy/config/<stack>.json` for the stack's
enforcement levels and thresholds)."""

import sys
from pathlib import Path

# The pack runs from policy/ in its own virtualenv; the project root on the
# path lets it share the rules and the compatibility table (standard library
# only) with the stack model: stacks/rules.py, stacks/compat.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack
from rules import POLICIES

PolicyPack(name="runai-cluster", policies=POLICIES)
