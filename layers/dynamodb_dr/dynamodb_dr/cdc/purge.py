"""Remove erased keys' history from the CDC archive, where Object Lock allows.

Every archive object of the table that holds a change of an erased key is rewritten without those
changes (a conditional overwrite of the version read; an object left with none is rewritten
empty: a deleted archive object would be a gap to every reader that proves the archive complete),
then every version that held them is deleted. What is removed is recorded first (cdc/erased.py:
stream, sequence number and time of each removed change, never its key or images), so the readers
that prove the archive complete count it as erased, not missing. A version under Object Lock
retention cannot be deleted: COMPLIANCE mode refuses everyone until the retention date; GOVERNANCE
mode refuses unless the caller may bypass it and asks to (`bypass_governance`). Those versions are
reported with their retention date and leave with the lifecycle after it. Run with the operator's
credentials: no tool role may delete archive objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dynamodb_dr.cdc.erased import ERASED_METADATA, ErasedRecord, parse_record, record_key
from dynamodb_dr.cdc.model import (
    CDC_PREFIX,
    NEWEST_CHANGE_METADATA,
    ArchiveObject,
    Change,
    partition_prefix,
    read_object,
)
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
    objects_emptied: int = 0  # rewritten with no change left (kept, empty: not a gap)
    changes_removed: int = 0
    versions_deleted: int = 0
    versions_locked: int = 0  # older versions Object Lock keeps (still hold the erased keys)
    locked_until: str | None = None  # the latest retention date among them
    lock_errors: list[str] = field(default_factory=list)

    def add(self, other: PurgeReport) -> None:
        """Count a later purge of the same keys (the changes that arrived since) in this one."""
        for name in ("objects_read", "objects_rewritten", "objects_emptied", "changes_removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.versions_deleted += other.versions_deleted
        self.versions_locked += other.versions_locked
        self.locked_until = max(filter(None, (self.locked_until, other.locked_until)), default=None)
        self.lock_errors = [*self.lock_errors, *other.lock_errors][:5]


def purge_history(
    s3: S3Client,
    bucket: str,
    table: str,
    erased: Mapping[str, datetime],
    *,
    bypass_governance: bool = False,
    hours: Iterable[datetime] | None = None,
    since: datetime | None = None,
) -> PurgeReport:
    """Every version of every CDC object of `table` (of `hours` only, and written `since` only,
    when given) is read: the current one is rewritten without the erased keys' changes made at or
    before their erasure (`erased`: key id -> when; a later change is the person's new history),
    older ones holding them are deleted (a re-run, e.g. with bypass_governance, finishes what
    Object Lock stopped)."""
    report = PurgeReport(table)
    whole = [f"{CDC_PREFIX}/table={table}/"]
    prefixes = whole if hours is None else sorted({partition_prefix(table, hour) for hour in hours})
    versions: dict[str, list[tuple[str, str, bool]]] = {}  # key -> (version id, ETag, latest)
    with aws_errors(table=table):
        for prefix in prefixes:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    if since and version["LastModified"] < since.replace(microsecond=0):
                        continue  # written before (LastModified is whole seconds)
                    if version["Key"].endswith(".jsonl.gz"):
                        entry = (version["VersionId"], version["ETag"], bool(version.get("IsLatest")))
                        versions.setdefault(version["Key"], []).append(entry)
    for key, listed in versions.items():
        for version_id, etag, latest in listed:
            report.objects_read += 1
            changes = _read(s3, bucket, key, version_id, table)
            removed = [c for c in changes if _erased(c, erased)]
            if not removed:
                continue
            report.changes_removed += len(removed)
            if latest:
                kept = [c for c in changes if not _erased(c, erased)]
                recorded = _record(s3, bucket, key, removed, table=table)
                newest = max(c.approximate_creation for c in changes)
                _rewrite(s3, bucket, key, etag, kept, erased=recorded, newest=newest, table=table)
                report.objects_rewritten += 1
                report.objects_emptied += 0 if kept else 1
            _delete_version(s3, bucket, key, version_id, report=report, bypass=bypass_governance)
    logger.info(
        "erased keys purged from the archive",
        extra={"table": table, "objects": report.objects_rewritten, "locked": report.versions_locked},
    )
    return report


def _erased(change: Change, erased: Mapping[str, datetime]) -> bool:
    """Made at or before its key's erasure (the rule of cdc/erasure.py)."""
    when = erased.get(change.key_id)
    return when is not None and change.approximate_creation <= when


def _read(s3: S3Client, bucket: str, key: str, version_id: str, table: str) -> list[Change]:
    with aws_errors(table=table):
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    return read_object(body, key)


def _record(s3: S3Client, bucket: str, key: str, removed: list[Change], *, table: str) -> int:
    """Add the removed changes to the object's erasure record before the object changes (a
    record naming a change still archived misleads nobody: it was archived). Conditional on the
    record read, so two purges at once cannot lose each other's changes. Returns its size."""
    where = record_key(key)
    now = datetime.now(UTC)
    try:
        with aws_errors(table=table):
            found = s3.get_object(Bucket=bucket, Key=where)
        current = parse_record(found["Body"].read(), where)
        condition = {"IfMatch": str(found["ETag"])}
    except DynamoDbDrError as exc:
        if error_code(exc.__cause__ or exc) not in ("NoSuchKey", "404"):
            raise
        current = ErasedRecord(object=key, changes=(), updated_at=now)
        condition = {"IfNoneMatch": "*"}
    record = current.adding(removed, now)
    with aws_errors(table=table):
        s3.put_object(
            Bucket=bucket,
            Key=where,
            Body=record.model_dump_json().encode(),
            ContentType="application/json",
            **condition,  # type: ignore[arg-type]
        )
    return len(record.changes)


def _rewrite(
    s3: S3Client,
    bucket: str,
    key: str,
    etag: str,
    kept: list[Change],
    *,
    erased: int,
    newest: datetime,
    table: str,
) -> None:
    """A new current version without the erased keys, empty when nothing is left (allowed under
    Object Lock too), so nothing that reads the archive sees the keys again. It keeps the newest
    change time of the version it replaces (the archive got that far: posture reads it) and says
    it has an erasure record."""
    with aws_errors(table=table):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=ArchiveObject(key, tuple(kept), 0).body(),
            ContentType="application/x-ndjson",
            Metadata={
                "records": str(len(kept)),
                NEWEST_CHANGE_METADATA: newest.astimezone(UTC).isoformat(),
                ERASED_METADATA: str(erased),
            },
            IfMatch=etag,
        )


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
