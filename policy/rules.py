"""Every rule of the pack, in one list: the pack runs it, the policy
reference is generated from it."""

import cluster_safety
import hygiene
import priorities
import protection
import quotas
import versions

POLICIES = [
    *cluster_safety.POLICIES,
    *quotas.POLICIES,
    *priorities.POLICIES,
    *protection.POLICIES,
    *hygiene.POLICIES,
    *versions.POLICIES,
]
