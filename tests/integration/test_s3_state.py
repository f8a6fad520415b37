"""Team state on S3: a moto server on 127.0.0.1 stands in for the bucket."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import s3_client
from tests.integration.test_engine import existing_cluster_config, fake_kubeconfig
from tools.stackrun import ROOT, STATE, checked, engine_env, init_stack, run, workdir
from tools.state_bucket import Settings, ensure_state_bucket, login_url
from tools.state_bucket import s3_client as tool_client


def state_bucket(endpoint: str, bucket: str) -> str:
    """Create the bucket with our tool, as a team would; return its login URL."""
    settings = Settings(bucket=bucket, region="us-east-1", endpoint_url=endpoint)
    report = ensure_state_bucket(tool_client(settings), settings)
    assert report.created
    return login_url(settings)


def keys(endpoint: str, bucket: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_stack_created_previewed_and_updated_on_s3(s3_endpoint: str, aws_env: dict[str, str]) -> None:
    bucket = "team-state-update"
    env = engine_env(backend=state_bucket(s3_endpoint, bucket))
    work = workdir("dev", settings=existing_cluster_config(), name="it-s3")
    init_stack(work, "dev", env, {"kubeconfig": fake_kubeconfig()})
    # stack, cluster, provider, node roles and the (empty) layers component
    assert "+ 5 to create" in checked(["preview", "--stack", "dev"], work, env)
    checked(["up", "--yes", "--skip-preview", "--stack", "dev"], work, env)
    stored = keys(s3_endpoint, bucket)
    versions = s3_client(s3_endpoint).get_bucket_versioning(Bucket=bucket)
    assert versions["Status"] == "Enabled"
    assert any(k.startswith(".pulumi/stacks/") and k.endswith("dev.json") for k in stored), stored
    assert any(k.startswith(".pulumi/history/") for k in stored), stored
    state = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=next(k for k in stored if k.endswith("dev.json")))
    body = state["Body"].read().decode()
    assert "runai-cluster:cluster:Cluster" in body
    assert "kubeconfig-secret-marker" not in body


def test_second_writer_is_refused_while_the_first_holds_the_lock(s3_endpoint: str, aws_env: dict[str, str]) -> None:
    bucket = "team-state-lock"
    env = engine_env(backend=state_bucket(s3_endpoint, bucket))
    env["SLOW_SECONDS"] = "25"
    work = STATE / "work" / "it-slow"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(Path(__file__).parent / "slow_project", work)
    (work / ".venv").symlink_to(ROOT / ".venv")
    init_stack(work, "team", env, {})
    first = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", "team"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(k.startswith(".pulumi/locks/") for k in keys(s3_endpoint, bucket)):
            assert time.monotonic() < deadline, "the first writer never took the lock"
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            time.sleep(0.2)
        second = run(["up", "--yes", "--skip-preview", "--stack", "team"], work, env)
        assert second.returncode != 0
        assert "locked" in second.stdout + second.stderr
    finally:
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert not any(k.startswith(".pulumi/locks/") for k in keys(s3_endpoint, bucket))
