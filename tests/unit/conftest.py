"""Shared fixtures of the unit tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.s3 import moto_server


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the module's tests."""
    with moto_server() as endpoint:
        yield endpoint
