"""CrossGuard policy pack: run with `pulumi preview --policy-pack policy`."""

from cluster_safety import POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name="runai-cluster", policies=POLICIES)
