"""CrossGuard policy pack: run with `pulumi preview --policy-pack policy`
(and `--policy-pack-config policy/config/<stack>.json` for the stack's
enforcement levels and thresholds)."""

import cluster_safety
import hygiene
import priorities
import protection
import quotas
import versions
from pulumi_policy import PolicyPack

PolicyPack(
    name="runai-cluster",
    policies=[
        *cluster_safety.POLICIES,
        *quotas.POLICIES,
        *priorities.POLICIES,
        *protection.POLICIES,
        *hygiene.POLICIES,
        *versions.POLICIES,
    ],
)
