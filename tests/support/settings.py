"""The fixture stacks (tests/fixtures/stacks) the tests evaluate, and the
refusal of a stack changed in one place. The example stacks at the top level
are the users': tests read them in one place per tier (the unit tier's
tests/unit/test_stack_model.py, the engine's test_engine.py)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tools.mocked_program import namespaced, stack_file_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stacks"


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    # Parsed once per session: tests ask for a fixture about a hundred times.
    return stack_file_settings(FIXTURES / f"Pulumi.{name}.yaml")


def fixture(name: str = "small") -> dict[str, Any]:
    """A fresh copy of a fixture stack's plain settings: "small" or "production"."""
    return copy.deepcopy(_parsed(name))


def fixture_config(name: str = "small") -> dict[str, Any]:
    """A fixture stack's config as its stack file keys it, for the real engine."""
    return namespaced(fixture(name))


def refused(settings: dict[str, Any]) -> str:
    """The message a refused stack fails with."""
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    return str(caught.value)
