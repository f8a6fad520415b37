"""Stack settings for tests that change one thing and expect a refusal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tools.mocked_program import stack_settings


def example(stack: str = "dev") -> dict[str, Any]:
    """A fresh copy of an example stack's plain settings."""
    return copy.deepcopy(stack_settings(stack))


def refused(settings: dict[str, Any]) -> str:
    """The message a refused stack fails with."""
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    return str(caught.value)
