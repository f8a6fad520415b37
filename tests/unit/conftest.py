"""Shared fixtures of the unit tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.s3 import moto_server
from tools.mocked_program import Recorded, run_program, stack_settings


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the module's tests."""
    with moto_server() as endpoint:
        yield endpoint


# Session-wide: each takes a program run, and tests only read them.
@pytest.fixture(scope="session")
def dev() -> Recorded:
    """What the dev stack registers (under mocks)."""
    recorded, _ = run_program(stack_settings("dev"))
    return recorded


@pytest.fixture(scope="session")
def prod() -> Recorded:
    """What the prod stack registers (under mocks)."""
    recorded, _ = run_program(stack_settings("prod"), stack="prod")
    return recorded
