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
from typing import Any

from pydantic import Field

from dynamodb_dr.cdc.erased import ErasedRecord
from dynamodb_dr.cdc.model import (
    SEQ_WIDTH,
    ArchiveObject,
    Change,
    change_from_record,
    next_object,
    partition_prefix,
    read_object,
    stream_folder,
)
from dynamodb_dr.cdc.store import ArchiveStore, Held
from dynamodb_dr.cdc.timeline import read_timeline
from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.errors import ArchiveCorrupt, ArchiveWriteFailed, DynamoDbDrError, TableNotProtected

__all__ = ["ArchiveStore", "ArchiverSettings", "archive_batch", "read_changes"]  # ArchiveStore: cdc/store.py

logger = logging.getLogger(__name__)

# AWS stamps stream records' ApproximateCreationDateTime rounded down to the second: a change
# stamped s happened within [s, s + STREAM_TIME_RESOLUTION).
STREAM_TIME_RESOLUTION = timedelta(seconds=1)


class ArchiverSettings(StackSettings):
    """The CDC archiver function's environment."""

    archive_bucket: str = Field(min_length=3)
    cdc_max_records_per_object: int = Field(default=10_000, ge=1, le=100_000)


@dataclass
class ArchiveResult:
    records: int = 0  # records in the batch
    archived: int = 0  # durable in the archive, including already_archived
    already_archived: int = 0
    objects: int = 0
    bytes: int = 0
    repaired: int = 0  # unreadable objects at our key, rewritten with the batch's changes
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

    An object is keyed by its first change, so a retry (Lambda resumes at the first record of
    the object that failed, or replays the whole batch after a function error) meets the object
    an earlier attempt wrote at the same key: the conditional write fails, the object is read,
    and the changes it already holds are skipped; no change is stored twice.
    """
    result = ArchiveResult(records=len(records))
    changes: list[Change] = []
    for index, record in enumerate(records):
        try:
            changes.append(change_from_record(record, logical_table))
        except DynamoDbDrError as exc:
            result.failed_index, result.failure = index, f"{exc.code}: {exc}"
            break
    position = 0
    while position < len(changes):
        obj = next_object(changes, position, max_records)
        try:
            stored = _store(obj, changes, store, result)
        except DynamoDbDrError as exc:
            result.failed_index = obj.first_index
            result.failure = f"{ArchiveWriteFailed.code}: {exc.code}: {exc}"
            break
        durable = changes[position : position + stored]
        result.archived += stored
        table = obj.changes[0].table  # an object holds one table's changes
        result.tables[table] = result.tables.get(table, 0) + stored
        newest = max(c.approximate_creation for c in durable)
        result.newest_change = max(newest, result.newest_change or newest)
        position += stored
    return result


def _store(obj: ArchiveObject, batch: Sequence[Change], store: ArchiveStore, result: ArchiveResult) -> int:
    """Write one object; returns how many batch changes from the object's start are now durable."""
    body = obj.body()
    if store.put_new(obj.key, body, len(obj.changes), newest=newest_of(obj.changes)):
        result.objects, result.bytes = result.objects + 1, result.bytes + len(body)
        return len(obj.changes)
    held = store.get_tagged(obj.key)  # an earlier attempt wrote this key
    try:
        held_changes = read_object(held.body, obj.key)
    except ArchiveCorrupt:
        held_changes = None
    # Changes an erasure removed from the object count as archived: never archived again.
    erased = _erased(store, obj.key, held, held_changes, obj.changes)
    fresh = tuple(c for c in obj.changes if int(c.sequence_number) not in erased)
    if held_changes is None:
        # Unreadable (damaged in storage or by hand): our batch holds the changes this key is
        # for, so rewrite it rather than block the shard forever.
        logger.warning("repairing an unreadable archive object", extra={"key": obj.key})
        newest = newest_of(obj.changes)
        store.replace(
            obj.key, _body(obj.key, fresh), len(fresh), held.etag, newest=newest, erased=held.erased
        )
        result.objects, result.bytes, result.repaired = result.objects + 1, result.bytes + len(body), 1
        return len(obj.changes)
    done = {int(c.sequence_number) for c in held_changes} | erased
    skipped = 0
    for change in batch[obj.first_index :]:  # an earlier, longer cut may hold more of the batch
        if int(change.sequence_number) not in done:
            break
        skipped += 1
    if skipped == 0:  # cannot happen for one shard's records; never drop a change if it does
        merged = sorted({int(c.sequence_number): c for c in [*held_changes, *fresh]}.items())
        union = ArchiveObject(obj.key, tuple(c for _, c in merged), obj.first_index)
        newest = newest_of(union.changes)
        store.replace(obj.key, union.body(), len(union.changes), held.etag, newest=newest, erased=held.erased)
        result.objects, result.bytes = result.objects + 1, result.bytes + len(union.body())
        return len(obj.changes)
    result.already_archived += skipped
    if obj.first_index + skipped == len(batch):
        _split_beyond(obj.key, held_changes, batch[-1], read=held, store=store, erased=erased)
    return skipped


def _body(key: str, changes: Sequence[Change]) -> bytes:
    return ArchiveObject(key, tuple(changes), 0).body()


def _erased(
    store: ArchiveStore, key: str, held: Held, held_changes: list[Change] | None, ours: Sequence[Change]
) -> set[int]:
    """Sequence numbers an erasure removed from the object (cdc/erased.py). Without its record
    (deleted, unreadable), a change of ours inside the object's span that it does not hold is
    taken as erased: the span's other changes are all there, so nothing is lost."""
    if not held.erased:
        return set()
    try:
        record = store.erased_record(key)
    except ArchiveCorrupt:
        record = None
    if record is not None:
        return record.sequences
    logger.warning("an erased archive object has no readable erasure record", extra={"key": key})
    kept = {int(c.sequence_number) for c in held_changes or ()}
    first = int(key.rsplit("/", 1)[1].split(".", 1)[0])  # object keys are named by their first change
    last = max(kept, default=first)
    return {int(c.sequence_number) for c in ours if first <= int(c.sequence_number) <= last} - kept


def _split_beyond(
    key: str, held: Sequence[Change], last: Change, *, read: Held, store: ArchiveStore, erased: set[int]
) -> None:
    """The object an earlier attempt wrote runs past this batch's end: Lambda split the batch
    after a function error (BisectBatchOnFunctionError), so the next batch starts inside it.
    Move those changes to an object keyed by the next batch's first change, where its write will
    meet them (written first, then the old object shortened: a crash in between duplicates, and
    readers drop duplicates; nothing is lost). Changes erased from it beyond the batch go with
    them on the new object's erasure record, so the next batch meets them as archived too."""
    end = int(last.sequence_number)
    beyond = [c for c in held if int(c.sequence_number) > end]
    gone = sorted(s for s in erased if s > end)
    if not beyond or len(beyond) == len(held):
        return
    first = min([int(beyond[0].sequence_number), *gone])  # the next batch's first change
    rest_key = f"{stream_folder(beyond[0])}{first:0>{SEQ_WIDTH}}.jsonl.gz"
    record = store.erased_record(key) if gone else None
    if record is not None:
        moved = tuple(c for c in record.changes if int(c.sequence_number) in gone)
        store.put_erased_record(ErasedRecord(object=rest_key, changes=moved, updated_at=record.updated_at))
    # Already there: an earlier split did it.
    store.put_new(rest_key, _body(rest_key, beyond), len(beyond), newest=newest_of(beyond), erased=len(gone))
    head = [c for c in held if c not in beyond]
    store.replace(key, _body(key, head), len(head), read.etag, newest=newest_of(head), erased=read.erased)


def newest_of(changes: Sequence[Change]) -> datetime:
    return max(change.approximate_creation for change in changes)


def whole_second(when: datetime) -> datetime:
    """The second a stream record made at `when` is stamped with."""
    return when.replace(microsecond=0)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        yield hour
        hour += timedelta(hours=1)


@dataclass
class ArchiveScan:
    objects: int = 0
    lines: int = 0
    not_live: int = 0  # changes of a table that was not the live table when they were made


def read_changes(
    store: ArchiveStore, table: str, start: datetime, end: datetime, scan: ArchiveScan | None = None
) -> Iterator[Change]:
    """Every archived change of `table` stamped within [start, end], bounds taken at second
    granularity: AWS rounds ApproximateCreationDateTime down to the second, so a change made at
    12:00:00.7 is stamped 12:00:00 and a window starting at 12:00:00.5 must include it (a
    window is a superset at its start; replay's last-writer-wins makes that safe)."""
    scan = scan if scan is not None else ArchiveScan()
    start = whole_second(start)
    timeline = read_timeline(store, table)
    for hour in hours_between(start, end):
        for key in store.keys(partition_prefix(table, hour)):
            if not key.endswith(".jsonl.gz"):
                continue
            scan.objects += 1
            for change in read_object(store.get(key), key):
                scan.lines += 1
                if not start <= change.approximate_creation <= end:
                    continue
                rank = timeline.rank(change)
                if rank is None:  # a late write to a table that was no longer (or not yet) live
                    scan.not_live += 1
                    continue
                yield change if rank == 0 else change.model_copy(update={"live_epoch": rank})


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
