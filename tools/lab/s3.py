"""The lab's S3 endpoint: a moto server on 127.0.0.1 with the bucket the lab
stack's backups point at."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

BUCKET = "lab-backups"
# moto accepts any credentials; these are what the lab stack's secrets hold.
CREDENTIALS = {"aws_access_key_id": "lab-access-key", "aws_secret_access_key": "lab-secret-key"}


def start_s3(directory: Path, port: int, host: str = "127.0.0.1") -> int:
    """Start moto's server on `host`, create the bucket, return the PID."""
    log = (directory / "s3.log").open("ab")
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", host, "-p", str(port)], stdout=log, stderr=log, start_new_session=True
    )
    endpoint = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            break
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lab's S3 server did not start on {endpoint}; see {directory}/s3.log") from None
            time.sleep(0.3)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    return process.pid
