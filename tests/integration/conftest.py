"""Fixtures for the real-engine tier: the pulumi CLI built by `make toolchain`
and a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tools.lab.sshd import free_port


@pytest.fixture(scope="session", autouse=True)
def pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if not path:
        pytest.fail("pulumi is not on PATH: run `make toolchain` (make test does it for you)")
    return path


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
