"""Program evaluations shared by the whole test session. An evaluation under
mocks costs up to a second; tests in several modules ask for the same one
(a fixture stack, or one changed the same way), and it is run once."""

from __future__ import annotations

import json
from typing import Any

from tools.mocked_program import Recorded, run_program

_EVALUATED: dict[str, Recorded] = {}


def registered(settings: dict[str, Any], stack: str = "dev", secrets: dict[str, str] | None = None) -> Recorded:
    """What the program registers for these inputs, evaluated on the first
    request. Shared: callers only read it (copy what you change)."""
    key = json.dumps([settings, stack, secrets], sort_keys=True)
    if key not in _EVALUATED:
        _EVALUATED[key], _ = run_program(settings, secrets=secrets, stack=stack)
    return _EVALUATED[key]
