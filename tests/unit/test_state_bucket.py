"""tools.state_bucket against a real (moto) S3 endpoint over HTTP."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.support.s3 import use_test_credentials
from tools import state_bucket
from tools.state_bucket import BucketNameError, Settings, ensure_state_bucket, login_url


@pytest.fixture
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    use_test_credentials(monkeypatch)
    return moto_endpoint


def client(endpoint: str, region: str = "eu-west-1") -> Any:
    return boto3.client("s3", region_name=region, endpoint_url=endpoint)


def assert_configured(s3: Any, bucket: str, *, kms_key: str | None = None, days: int = 90) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(state_bucket.PUBLIC_ACCESS_FLAGS, True)

    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rules[0]["ApplyServerSideEncryptionByDefault"]
    if kms_key:
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}
    else:
        assert default["SSEAlgorithm"] == "AES256"

    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]

    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    ours = [r for r in lifecycle if r["ID"] == state_bucket.LIFECYCLE_RULE_ID]
    assert len(ours) == 1
    assert ours[0]["Status"] == "Enabled"
    assert ours[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == days


@pytest.mark.process
def test_creates_a_fully_configured_bucket(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = state_bucket.main(["--bucket", "team-state-new", "--endpoint-url", endpoint, "--region", "eu-west-1"])
    assert rc == 0
    s3 = client(endpoint)
    assert_configured(s3, "team-state-new")
    assert s3.get_bucket_location(Bucket="team-state-new")["LocationConstraint"] == "eu-west-1"
    out = capsys.readouterr().out
    assert "created bucket" in out
    assert f"pulumi login 's3://team-state-new?region=eu-west-1&endpoint={endpoint}&s3ForcePathStyle=true'" in out


@pytest.mark.process
def test_kms_key_and_custom_retention(endpoint: str) -> None:
    settings = Settings("team-state-kms", "us-east-1", endpoint, "alias/pulumi-state", 30)
    report = ensure_state_bucket(client(endpoint, "us-east-1"), settings)
    assert report.created
    assert_configured(client(endpoint, "us-east-1"), "team-state-kms", kms_key="alias/pulumi-state", days=30)


@pytest.mark.process
def test_rerun_changes_nothing(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--bucket", "team-state-idem", "--endpoint-url", endpoint, "--region", "eu-west-1"]
    assert state_bucket.main(args) == 0
    capsys.readouterr()
    assert state_bucket.main(args) == 0
    assert "already configured, nothing changed" in capsys.readouterr().out

    settings = Settings("team-state-idem", "eu-west-1", endpoint)
    assert ensure_state_bucket(client(endpoint), settings).changes == []


@pytest.mark.process
def test_rerun_repairs_drift_and_reports_it(endpoint: str) -> None:
    s3 = client(endpoint)
    bucket = "team-state-drift"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    # Somebody else's rule must survive; ours is added beside it.
    foreign = {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 7}}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [foreign]})

    report = ensure_state_bucket(s3, Settings(bucket, "eu-west-1", endpoint, noncurrent_days=60))

    assert not report.created
    text = "\n".join(report.changes)
    assert "versioning: Suspended -> Enabled" in text
    assert "IgnorePublicAcls" in text and "RestrictPublicBuckets" in text and "BlockPublicAcls" not in text
    assert "object ownership: ObjectWriter -> BucketOwnerEnforced" in text
    assert "lifecycle: added rule" in text
    assert_configured(s3, bucket, days=60)
    ids = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert ids == {"logs", state_bucket.LIFECYCLE_RULE_ID}

    # A changed retention updates our rule in place; everything else stays.
    again = ensure_state_bucket(s3, Settings(bucket, "eu-west-1", endpoint, noncurrent_days=90))
    assert [c for c in again.changes if not c.startswith("lifecycle: updated")] == []
    assert len(again.changes) == 1
    assert_configured(s3, bucket, days=90)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Team-State",
        "team_state",
        "-team",
        "team-",
        "team..state",
        "192.168.1.10",
        "xn--team",
        "t-s3alias",
    ],
)
def test_bad_names_get_one_clear_message(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BucketNameError, match="invalid bucket name") as caught:
        state_bucket.validate_bucket_name(name)
    message = str(caught.value)
    assert "\n" not in message
    assert "3-63 characters of lowercase letters" in message

    assert state_bucket.main([f"--bucket={name}", "--endpoint-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: invalid bucket name {name!r}")


@pytest.mark.parametrize("name", ["abc", "team-state", "team.state.2024", "a" * 63])
def test_good_names(name: str) -> None:
    state_bucket.validate_bucket_name(name)


def test_login_url_without_endpoint_is_plain_aws() -> None:
    assert login_url(Settings("team-state", "eu-central-1")) == "s3://team-state?region=eu-central-1"
