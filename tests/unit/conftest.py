"""Shared fixtures of the unit tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.programs import registered
from tests.support.s3 import moto_server
from tests.support.settings import fixture
from tools.mocked_program import Recorded


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the module's tests."""
    with moto_server() as endpoint:
        yield endpoint


# Session-wide (tests only read them), shared with tests that evaluate the same.
@pytest.fixture(scope="session")
def dev() -> Recorded:
    """What the small fixture stack registers (under mocks), as stack `dev`."""
    return registered(fixture("small"))


@pytest.fixture(scope="session")
def prod() -> Recorded:
    """What the production fixture stack registers (under mocks), as stack `prod`."""
    return registered(fixture("production"), stack="prod")
