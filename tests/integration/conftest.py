"""Fixtures for the real-engine tier: the pulumi CLI built by `make toolchain`
and a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import boto3
import pytest

from tests.support.s3 import moto_server, use_test_credentials


@pytest.fixture(scope="session", autouse=True)
def pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if not path:
        pytest.fail("pulumi is not on PATH: run `make toolchain` (make test does it for you)")
    return path


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return use_test_credentials(monkeypatch)


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
