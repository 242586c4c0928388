"""Archive a delivered stream batch into S3, and read the archive back.

`archive_batch` writes objects in delivery order and stops at the first record it cannot
archive: everything before it is durable, and the caller reports it (and everything after) as
batch item failures so the retry resumes there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from dynamodb_dr.cdc.model import (
    Change,
    change_from_record,
    partition_prefix,
    plan_objects,
    read_object,
    sequence_range,
    stream_folder,
)
from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.errors import ArchiveWriteFailed, DynamoDbDrError, TableNotProtected

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


class ArchiverSettings(StackSettings):
    """The CDC archiver function's environment."""

    archive_bucket: str = Field(min_length=3)
    cdc_max_records_per_object: int = Field(default=10_000, ge=1, le=100_000)


class ArchiveStore:
    """S3 adapter: the archive bucket, written and read only under cdc/."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes, records: int) -> None:
        with aws_errors():
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                Metadata={"records": str(records)},
            )

    def keys(self, prefix: str) -> Iterator[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with aws_errors():
            for page in pages:
                yield from (obj["Key"] for obj in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        with aws_errors():
            return bytes(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())


@dataclass
class ArchiveResult:
    records: int = 0  # records in the batch
    archived: int = 0  # durable in the archive, including already_archived
    already_archived: int = 0
    objects: int = 0
    bytes: int = 0
    newest_change: datetime | None = None
    failed_index: int | None = None  # first record not archived
    failure: str | None = None
    tables: dict[str, int] = field(default_factory=dict)  # logical table -> records archived

    @property
    def ok(self) -> bool:
        return self.failed_index is None


def archive_batch(
    records: Sequence[Mapping[str, Any]],
    store: ArchiveStore,
    logical_table: Callable[[str], str],
    *,
    max_records: int = 10_000,
) -> ArchiveResult:
    """Archive records (one shard's batch, in order). Never raises for a bad record or S3 error.

    Changes an earlier attempt already archived (its object was written but the attempt failed or
    timed out, and the retry was cut differently) are skipped, so no change is stored twice.
    """
    result = ArchiveResult(records=len(records))
    parsed: list[tuple[int, Change]] = []
    for index, record in enumerate(records):
        try:
            parsed.append((index, change_from_record(record, logical_table)))
        except DynamoDbDrError as exc:
            result.failed_index, result.failure = index, f"{exc.code}: {exc}"
            break
    try:
        fresh = _not_yet_archived(parsed, store)
    except DynamoDbDrError as exc:
        result.failed_index = parsed[0][0] if parsed else result.failed_index
        result.failure = f"{ArchiveWriteFailed.code}: {exc.code}: {exc}"
        return result
    result.already_archived = len(parsed) - len(fresh)
    result.archived = result.already_archived
    changes = [change for _, change in fresh]
    for obj in plan_objects(changes, max_records, [index for index, _ in fresh]):
        body = obj.body()
        try:
            store.put(obj.key, body, len(obj.changes))
        except DynamoDbDrError as exc:
            result.failed_index = obj.first_index
            result.failure = f"{ArchiveWriteFailed.code}: {exc.code}: {exc}"
            break
        result.archived += len(obj.changes)
        result.objects += 1
        result.bytes += len(body)
        table = obj.changes[0].table
        result.tables[table] = result.tables.get(table, 0) + len(obj.changes)
        newest = max(c.approximate_creation for c in obj.changes)
        result.newest_change = max(newest, result.newest_change or newest)
    return result


def _not_yet_archived(parsed: list[tuple[int, Change]], store: ArchiveStore) -> list[tuple[int, Change]]:
    """Drop changes an earlier attempt already stored (one LIST per stream-hour folder).

    The shards of one stream interleave their sequence numbers, so an object's key range only
    says where a change could be: the object is read to compare exact sequence numbers.
    """
    ranges: dict[str, list[tuple[str, int, int]]] = {}
    stored: dict[str, set[int]] = {}
    fresh: list[tuple[int, Change]] = []
    for index, change in parsed:
        folder = stream_folder(change)
        if folder not in ranges:
            ranges[folder] = [(key, *r) for key in store.keys(folder) if (r := sequence_range(key))]
        seq = int(change.sequence_number)
        candidates = [key for key, first, last in ranges[folder] if first <= seq <= last]
        for key in candidates:
            if key not in stored:
                stored[key] = {int(c.sequence_number) for c in read_object(store.get(key), key)}
        if not any(seq in stored[key] for key in candidates):
            fresh.append((index, change))
    return fresh


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        yield hour
        hour += timedelta(hours=1)


@dataclass
class ArchiveScan:
    objects: int = 0
    lines: int = 0


def read_changes(
    store: ArchiveStore, table: str, start: datetime, end: datetime, scan: ArchiveScan | None = None
) -> Iterator[Change]:
    """Every archived change of `table` with start <= ApproximateCreationDateTime <= end."""
    scan = scan if scan is not None else ArchiveScan()
    for hour in hours_between(start, end):
        for key in store.keys(partition_prefix(table, hour)):
            if not key.endswith(".jsonl.gz"):
                continue
            scan.objects += 1
            for change in read_object(store.get(key), key):
                scan.lines += 1
                if start <= change.approximate_creation <= end:
                    yield change


class LogicalNames:
    """Maps a stream's physical table to its protected logical table.

    The logical table itself and its restores (`<name>-dr-*`) are recognised by name; any other
    live table is found through the live-table pointers (read once per instance).
    """

    def __init__(self, protected: Sequence[str], pointers: Callable[[], Mapping[str, str]]) -> None:
        self._protected = tuple(protected)
        self._pointers = pointers
        self._live: Mapping[str, str] | None = None

    def __call__(self, physical: str) -> str:
        if physical in self._protected:
            return physical
        restored = [name for name in self._protected if physical.startswith(f"{name}-dr-")]
        if restored:
            return max(restored, key=len)
        if self._live is None:
            self._live = self._pointers()
        if physical in self._live:
            return self._live[physical]
        raise TableNotProtected(f"stream of table {physical} belongs to no protected table", table=physical)
