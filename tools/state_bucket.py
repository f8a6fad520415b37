"""Create (or repair) the S3 bucket that holds the team's Pulumi state.

State files are the only record of what Pulumi owns, so the bucket keeps
every version, is never public, is encrypted at rest, ignores object ACLs and
drops old versions after a while so it does not grow forever. Re-running the
tool on a bucket we own fixes whatever drifted and says what it changed.

    python -m tools.state_bucket --bucket runai-pulumi-state --region eu-west-1
    python -m tools.state_bucket --bucket state --endpoint-url http://minio:9000
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError

DEFAULT_REGION = "us-east-1"
DEFAULT_NONCURRENT_DAYS = 90
LIFECYCLE_RULE_ID = "expire-noncurrent-state-versions"
# Interrupted uploads of large checkpoints otherwise linger (and are billed).
ABORT_MULTIPART_DAYS = 7

_BAD_CHAR = re.compile(r"[^a-z0-9.-]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_NAME_RULES = (
    "S3 bucket names are 3-63 characters of lowercase letters, digits, '.' and '-', "
    "start and end with a letter or digit, contain no '..', are not an IP address, "
    f"and do not start with {', '.join(_RESERVED_PREFIXES)} "
    f"or end with {', '.join(_RESERVED_SUFFIXES)}"
)


class BucketNameError(ValueError):
    """The name breaks S3's bucket naming rules."""


class BucketError(RuntimeError):
    """The bucket cannot be used (owned by someone else, no access, ...)."""


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid general-purpose bucket name, or None."""
    if not 3 <= len(name) <= 63:
        return f"it is {len(name)} characters long"
    bad = sorted(set(_BAD_CHAR.findall(name)))
    if bad:
        return f"it contains {' '.join(map(repr, bad))}"
    if not (name[0] + name[-1]).isalnum():
        return "it starts or ends with '.' or '-'"
    if ".." in name:
        return "it contains '..'"
    try:
        ipaddress.IPv4Address(name)
        return "it is formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "it uses a reserved prefix or suffix"
    return None


def validate_bucket_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise BucketNameError(f"invalid bucket name {name!r}: {problem}. {_NAME_RULES}.")


@dataclass(frozen=True)
class Settings:
    bucket: str
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    kms_key_id: str | None = None
    noncurrent_days: int = DEFAULT_NONCURRENT_DAYS


@dataclass
class Report:
    bucket: str
    created: bool = False
    changes: list[str] = field(default_factory=list)


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _get_or_none(call: Any, missing: tuple[str, ...], **kwargs: Any) -> dict[str, Any] | None:
    """Run a get_* call; None when S3 says the setting was never made."""
    try:
        return call(**kwargs)
    except ClientError as err:
        if _error_code(err) in missing:
            return None
        raise


def _ensure_exists(s3: Any, settings: Settings, report: Report) -> None:
    try:
        s3.head_bucket(Bucket=settings.bucket)
        return
    except ClientError as err:
        code = _error_code(err)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketError(
                f"bucket {settings.bucket!r} exists but is not accessible with these credentials "
                "(owned by another account?)"
            ) from err
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": settings.bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    # us-east-1 is the one region that rejects an explicit location constraint.
    if settings.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as err:
        if _error_code(err) == "BucketAlreadyExists":
            raise BucketError(f"bucket name {settings.bucket!r} is taken by another account") from err
        if _error_code(err) != "BucketAlreadyOwnedByYou":
            raise
        return
    report.created = True
    report.changes.append("created bucket")


def _ensure_versioning(s3: Any, bucket: str, report: Report) -> None:
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        report.changes.append(f"versioning: {status or 'never enabled'} -> Enabled")


PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _ensure_public_access_block(s3: Any, bucket: str, report: Report) -> None:
    got = _get_or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=bucket)
    current = (got or {}).get("PublicAccessBlockConfiguration", {})
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not current.get(flag)]
    if off:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_FLAGS, True)
        )
        report.changes.append(f"public access block: turned on {', '.join(off)}")


def _encryption_rule(kms_key_id: str | None) -> dict[str, Any]:
    if kms_key_id:
        # A bucket key cuts KMS calls (and cost) to one per bucket and period.
        return {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id},
            "BucketKeyEnabled": True,
        }
    return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}


def _encryption_key(rule: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    return default.get("SSEAlgorithm"), default.get("KMSMasterKeyID"), bool(rule.get("BucketKeyEnabled", False))


def _ensure_encryption(s3: Any, bucket: str, kms_key_id: str | None, report: Report) -> None:
    got = _get_or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=bucket)
    rules = (got or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    want = _encryption_rule(kms_key_id)
    if [_encryption_key(r) for r in rules] != [_encryption_key(want)]:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [want]})
        before = ", ".join(str(_encryption_key(r)[0]) for r in rules) or "none"
        after = f"aws:kms ({kms_key_id})" if kms_key_id else "AES256"
        report.changes.append(f"default encryption: {before} -> {after}")


def _ensure_ownership(s3: Any, bucket: str, report: Report) -> None:
    got = _get_or_none(s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",), Bucket=bucket)
    rules = (got or {}).get("OwnershipControls", {}).get("Rules", [])
    current = [r.get("ObjectOwnership") for r in rules]
    if current != ["BucketOwnerEnforced"]:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        report.changes.append(f"object ownership: {', '.join(map(str, current)) or 'unset'} -> BucketOwnerEnforced")


def _lifecycle_rule(days: int) -> dict[str, Any]:
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
    }


def _lifecycle_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    # S3 echoes an empty filter back in several spellings; all mean "whole bucket".
    whole_bucket = not rule.get("Prefix") and rule.get("Filter", {}) in ({}, {"Prefix": ""})
    return (
        rule.get("Status"),
        whole_bucket,
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
    )


def _ensure_lifecycle(s3: Any, bucket: str, days: int, report: Report) -> None:
    got = _get_or_none(s3.get_bucket_lifecycle_configuration, ("NoSuchLifecycleConfiguration",), Bucket=bucket)
    rules: list[dict[str, Any]] = (got or {}).get("Rules", [])
    ours = next((r for r in rules if r.get("ID") == LIFECYCLE_RULE_ID), None)
    want = _lifecycle_rule(days)
    if ours is not None and _lifecycle_key(ours) == _lifecycle_key(want):
        return
    # Keep rules someone else added; only ours is replaced.
    others = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*others, want]})
    verb = "updated" if ours else "added"
    report.changes.append(f"lifecycle: {verb} rule {LIFECYCLE_RULE_ID} (noncurrent versions expire after {days} days)")


def ensure_state_bucket(s3: Any, settings: Settings) -> Report:
    """Make the bucket match `settings`; the report lists what was changed."""
    validate_bucket_name(settings.bucket)
    report = Report(bucket=settings.bucket)
    _ensure_exists(s3, settings, report)
    _ensure_ownership(s3, settings.bucket, report)
    _ensure_public_access_block(s3, settings.bucket, report)
    _ensure_versioning(s3, settings.bucket, report)
    _ensure_encryption(s3, settings.bucket, settings.kms_key_id, report)
    _ensure_lifecycle(s3, settings.bucket, settings.noncurrent_days, report)
    return report


def login_url(settings: Settings) -> str:
    """The backend URL for `pulumi login` (gocloud.dev s3blob parameters)."""
    params = {"region": settings.region}
    if settings.endpoint_url:
        # Self-hosted S3 (MinIO, Ceph) rarely has per-bucket DNS names.
        params["endpoint"] = settings.endpoint_url
        params["s3ForcePathStyle"] = "true"
    return f"s3://{settings.bucket}?{urlencode(params, safe=':/')}"


def s3_client(settings: Settings) -> Any:
    return boto3.client("s3", region_name=settings.region, endpoint_url=settings.endpoint_url)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m tools.state_bucket", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True, help="bucket name")
    parser.add_argument("--region", help="bucket region (default: the AWS profile's, else us-east-1)")
    parser.add_argument("--endpoint-url", help="S3 endpoint of a self-hosted store, e.g. http://minio:9000")
    parser.add_argument("--kms-key-id", help="KMS key for default encryption (default: SSE-S3, AES256)")
    parser.add_argument(
        "--noncurrent-days",
        type=_positive_int,
        default=DEFAULT_NONCURRENT_DAYS,
        help=f"days to keep superseded state versions (default {DEFAULT_NONCURRENT_DAYS})",
    )
    args = parser.parse_args(argv)
    region = args.region or boto3.session.Session().region_name or DEFAULT_REGION
    return Settings(args.bucket, region, args.endpoint_url, args.kms_key_id, args.noncurrent_days)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        report = ensure_state_bucket(s3_client(settings), settings)
    except (BucketNameError, BucketError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ClientError as err:
        print(f"error: S3 refused {err.operation_name}: {err}", file=sys.stderr)
        return 1
    if report.changes:
        print(f"bucket {report.bucket}: {len(report.changes)} change(s)")
        for change in report.changes:
            print(f"  - {change}")
    else:
        print(f"bucket {report.bucket}: already configured, nothing changed")
    print("log in with:")
    print(f"  pulumi login '{login_url(settings)}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
