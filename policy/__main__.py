"""CrossGuard policy pack: run with `pulumi preview --policy-pack policy`
(and `--policy-pack-config policy/config/<stack>.json` for the stack's
enforcement levels and thresholds)."""

from pulumi_policy import PolicyPack
from rules import POLICIES

PolicyPack(name="runai-cluster", policies=POLICIES)
