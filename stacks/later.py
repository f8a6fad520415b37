"""Sections that later layers fill in.

Each is typed and refuses unknown keys, so a setting written before its layer
exists fails loudly instead of being ignored."""

from __future__ import annotations

from stacks.base import Section


class ValidationConfig(Section):
    """Opt-in validation jobs."""
