"""Remove erased keys' history from the CDC archive, where Object Lock allows.

Every archive object of the table that holds a change of an erased key is rewritten without those
changes (a conditional overwrite of the version read; an object left empty gets a delete marker),
then every version that held them is deleted. A version under Object Lock retention cannot be deleted:
COMPLIANCE mode refuses everyone until the retention date; GOVERNANCE mode refuses unless the
caller may bypass it and asks to (`bypass_governance`). Those versions are reported with their
retention date and leave with the lifecycle after it. Run with the operator's credentials: no tool
role may delete archive objects.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dynamodb_dr.cdc.model import CDC_PREFIX, ArchiveObject, Change, read_object
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import DynamoDbDrError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    table: str
    objects_read: int = 0
    objects_rewritten: int = 0
    changes_removed: int = 0
    versions_deleted: int = 0
    versions_locked: int = 0  # older versions Object Lock keeps (still hold the erased keys)
    locked_until: str | None = None  # the latest retention date among them
    lock_errors: list[str] = field(default_factory=list)


def purge_history(
    s3: S3Client, bucket: str, table: str, key_ids: Collection[str], *, bypass_governance: bool = False
) -> PurgeReport:
    """Every version of every CDC object of `table` is read: the current one is rewritten without
    the keys' changes, older ones holding them are deleted (a re-run, e.g. with bypass_governance,
    finishes what Object Lock stopped)."""
    report = PurgeReport(table)
    prefix = f"{CDC_PREFIX}/table={table}/"
    versions: dict[str, list[tuple[str, str, bool]]] = {}  # key -> (version id, ETag, latest)
    with aws_errors(table=table):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for version in page.get("Versions", []):
                if version["Key"].endswith(".jsonl.gz"):
                    entry = (version["VersionId"], version["ETag"], bool(version.get("IsLatest")))
                    versions.setdefault(version["Key"], []).append(entry)
    for key, listed in versions.items():
        for version_id, etag, latest in listed:
            report.objects_read += 1
            changes = _read(s3, bucket, key, version_id, table)
            if not any(c.key_id in key_ids for c in changes):
                continue
            report.changes_removed += sum(1 for c in changes if c.key_id in key_ids)
            if latest:
                kept = [c for c in changes if c.key_id not in key_ids]
                _rewrite(s3, bucket, key, etag, kept, table=table)
                report.objects_rewritten += 1
            _delete_version(s3, bucket, key, version_id, report=report, bypass=bypass_governance)
    logger.info(
        "erased keys purged from the archive",
        extra={"table": table, "objects": report.objects_rewritten, "locked": report.versions_locked},
    )
    return report


def _read(s3: S3Client, bucket: str, key: str, version_id: str, table: str) -> list[Change]:
    with aws_errors(table=table):
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    return read_object(body, key)


def _rewrite(s3: S3Client, bucket: str, key: str, etag: str, kept: list[Change], *, table: str) -> None:
    """A new current version without the erased keys; an empty object gets a delete marker
    (allowed under Object Lock too), so nothing that reads the archive sees the keys again."""
    with aws_errors(table=table):
        if kept:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=ArchiveObject(key, tuple(kept), 0).body(),
                ContentType="application/x-ndjson",
                Metadata={"records": str(len(kept))},
                IfMatch=etag,
            )
        else:
            s3.delete_object(Bucket=bucket, Key=key)


def _delete_version(
    s3: S3Client, bucket: str, key: str, version_id: str, *, report: PurgeReport, bypass: bool
) -> None:
    try:
        with aws_errors():
            if bypass:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id, BypassGovernanceRetention=True)
            else:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        report.versions_deleted += 1
    except DynamoDbDrError as exc:
        code = error_code(exc.__cause__ or exc)
        if code not in ("AccessDenied", "InvalidRequest", "ObjectLocked"):
            raise
        report.versions_locked += 1
        until = _retain_until(s3, bucket, key, version_id)
        if until and (report.locked_until is None or until > report.locked_until):
            report.locked_until = until
        if len(report.lock_errors) < 5:
            report.lock_errors.append(f"{key} version {version_id}: {code}")


def _retain_until(s3: S3Client, bucket: str, key: str, version_id: str) -> str | None:
    """The version's Object Lock retention date (HeadObject: it answers where GetObjectRetention
    needs its own permission)."""
    try:
        with aws_errors():
            head = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    except DynamoDbDrError:
        return None
    until = head.get("ObjectLockRetainUntilDate")
    return until.isoformat() if until else None
