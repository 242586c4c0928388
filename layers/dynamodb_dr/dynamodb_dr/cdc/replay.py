"""Replay the CDC archive into a table, and bring single items back to an earlier state.

Replay reads every archived change of a logical table between two times (only the live table's:
cdc/timeline.py), orders them by when they were made (`dedupe`) and applies only the last one
per key (last writer wins): a put of its NewImage, or a delete. Writes are idempotent, so running
a replay twice gives the same table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from dynamodb_dr.cdc.archive import STREAM_TIME_RESOLUTION, ArchiveScan, ArchiveStore, read_changes
from dynamodb_dr.cdc.erasure import Erasure, apply_erasures, erased_before
from dynamodb_dr.cdc.model import Change, dedupe, key_id_of
from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.config import TABLE_NAME_PATTERN
from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import ArchiveCorrupt, InvalidInput, ReplayIncomplete, ReplayRefused
from dynamodb_dr.core.model import DomainModel

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import WriteRequestOutputTypeDef, WriteRequestTypeDef

BATCH_LIMIT = 25  # BatchWriteItem maximum


class ReplayRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(pattern=TABLE_NAME_PATTERN.pattern)  # logical table whose archive is read
    start: AwareDatetime
    end: AwareDatetime
    target: str = Field(pattern=TABLE_NAME_PATTERN.pattern)
    dry_run: bool = False
    force: bool = False
    workers: int = Field(default=8, ge=1, le=64)
    max_attempts: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> ReplayRequest:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


@dataclass(frozen=True)
class KeyOp:
    """The final write for one key: put `item`, or delete `keys` when item is None."""

    keys: dict[str, Any]
    item: dict[str, Any] | None
    change: Change

    def request(self) -> WriteRequestTypeDef:
        try:
            if self.item is None:
                return {"DeleteRequest": {"Key": item_from_json(self.keys)}}
            return {"PutRequest": {"Item": item_from_json(self.item)}}
        except InvalidInput as exc:
            raise ArchiveCorrupt(f"change {self.change.event_id}: {exc}") from None


@dataclass
class ReplayReport:
    table: str
    target: str
    dry_run: bool
    objects_read: int = 0
    changes_read: int = 0
    changes_in_window: int = 0
    newest_change: datetime | None = None  # the newest change read in the window
    changes_not_live: int = 0  # late writes of a table that was not live then (archived, not applied)
    duplicates: int = 0
    keys: int = 0
    puts: int = 0
    deletes: int = 0
    batches: int = 0
    retries: int = 0
    erased: int = 0  # keys on the erasure list whose last change predates the erasure: deleted


def guard_target(target: str, protected_live: Mapping[str, str], *, force: bool) -> None:
    """Refuse to write into a protected table's live table unless forced.

    `protected_live` maps each live physical table to its logical name.
    """
    if target in protected_live and not force:
        raise ReplayRefused(
            f"{target} is the live table of protected table {protected_live[target]}; pass force to write it",
            table=protected_live[target],
        )


def final_ops(changes: Iterable[Change]) -> list[KeyOp]:
    """Last writer wins per key, in per-key (stream, sequence) order."""
    last: dict[str, Change] = {}
    for change in dedupe(changes):
        last[change.key_id] = change  # dedupe() sorted them: later overwrites earlier
    return [_op(change) for change in last.values()]


def erase_ops(ops: list[KeyOp], erasures: Sequence[Erasure]) -> tuple[list[KeyOp], int]:
    """A key's last change made at or before its erasure becomes a delete (cdc/erasure.py)."""
    erased = erased_before(erasures)
    if not erased:
        return ops, 0
    out, count = [], 0
    for op in ops:
        when = erased.get(op.change.key_id)
        if when is not None and op.change.approximate_creation <= when:
            out.append(KeyOp(op.keys, None, op.change))
            count += 1
        else:
            out.append(op)
    return out, count


def _op(change: Change) -> KeyOp:
    if change.event_name == "REMOVE":
        return KeyOp(change.keys, None, change)
    if change.new_image is None:
        raise ArchiveCorrupt(
            f"change {change.event_id} has no NewImage (stream view is not NEW_AND_OLD_IMAGES)"
        )
    return KeyOp(change.keys, change.new_image, change)


class BatchWriter:
    """BatchWriteItem with UnprocessedItems retried with capped exponential backoff and jitter.

    Hand-written on purpose: botocore retries failed calls, not the UnprocessedItems of a call
    that succeeded, and boto3's resource batch_writer retries them without any backoff.
    """

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = dynamodb
        self._table = table
        self._max_attempts = max_attempts
        self._sleep = sleep
        self.retries = 0
        self._lock = Lock()

    def write(self, requests: Sequence[WriteRequestTypeDef]) -> None:
        pending: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = list(requests)
        for attempt in range(self._max_attempts):
            with aws_errors(table=self._table):
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            pending = response.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            with self._lock:
                self.retries += 1
            self._sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
        raise ReplayIncomplete(
            f"{len(pending)} writes to {self._table} still unprocessed after {self._max_attempts} attempts",
            table=self._table,
        )


def replay(
    request: ReplayRequest,
    store: ArchiveStore,
    dynamodb: DynamoDBClient,
    protected_live: Mapping[str, str],
    *,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    erasures: Sequence[Erasure] = (),
    base: datetime | None = None,
) -> ReplayReport:
    """`base`: the time the target's data reflects before the replay (a restore at the window's
    start). A key erased after it that the window does not change is deleted too: the target's copy
    predates the erasure, and the archive no longer holds the changes that would turn it into a
    delete when `dynamodb-dr erase` removed them."""
    guard_target(request.target, protected_live, force=request.force)
    report = ReplayReport(table=request.table, target=request.target, dry_run=request.dry_run)
    scan = ArchiveScan()
    changes = list(read_changes(store, request.table, request.start, request.end, scan))
    report.objects_read, report.changes_read, report.changes_in_window = (
        scan.objects,
        scan.lines,
        len(changes),
    )
    report.changes_not_live = scan.not_live
    report.newest_change = max((c.approximate_creation for c in changes), default=None)
    ops, report.erased = erase_ops(final_ops(changes), erasures)
    report.duplicates = len(changes) - len(dedupe(changes))
    report.keys = len(ops)
    report.deletes = sum(1 for op in ops if op.item is None)
    report.puts = report.keys - report.deletes
    if base is not None:
        changed = {op.change.key_id for op in ops}
        untouched = [e for e in erasures if e.erased_at > base and e.key_id not in changed]
        count = len({e.key_id for e in untouched})
        report.erased += count
        report.keys += count
        report.deletes += count
        if untouched and not request.dry_run:
            apply_erasures(dynamodb, request.target, untouched, as_of=base)
    batches = [ops[i : i + BATCH_LIMIT] for i in range(0, len(ops), BATCH_LIMIT)]
    report.batches = len(batches)
    if request.dry_run or not batches:
        return report
    writer = BatchWriter(dynamodb, request.target, max_attempts=request.max_attempts, sleep=sleep)
    done = 0
    with ThreadPoolExecutor(max_workers=request.workers) as pool:
        # Every key appears once, so batches are independent and may run in any order.
        for count in pool.map(lambda batch: _write(writer, batch), batches):
            done += count
            if progress:
                progress(done, len(ops))
    report.retries = writer.retries
    return report


def _write(writer: BatchWriter, batch: Sequence[KeyOp]) -> int:
    writer.write([op.request() for op in batch])
    return len(batch)


# ---------------------------------------------------------------- single items


@dataclass
class ItemState:
    """An item's state at a time: `exists` False means it did not exist then."""

    at: datetime
    exists: bool
    item: dict[str, Any] | None
    based_on: Change
    history: list[Change] = field(default_factory=list)


def item_history(
    store: ArchiveStore, table: str, keys: Mapping[str, Any], start: datetime, end: datetime
) -> list[Change]:
    """Every archived change of one item between two times, oldest first."""
    wanted = key_id_of(keys)
    return dedupe(c for c in read_changes(store, table, start, end) if c.key_id == wanted)


def state_at(history: Sequence[Change], at: datetime) -> ItemState:
    """The item at time `at` from its (ordered) history.

    The last change before `at` gives it; with none, the first later change's OldImage does (an
    INSERT means the item did not exist yet). Stream times are whole seconds: a change stamped
    in the very second of `at` may have come before or after it, so such a time is refused.
    """
    unsure = [
        c for c in history if c.approximate_creation <= at < c.approximate_creation + STREAM_TIME_RESOLUTION
    ]
    if unsure:
        second = unsure[0].approximate_creation.isoformat()
        raise InvalidInput(
            f"{len(unsure)} change(s) of this item are stamped {second}, the second of {at.isoformat()}: "
            "stream times are whole seconds, so their order against that time is unknown; "
            "choose a time outside that second"
        )
    before = [c for c in history if c.approximate_creation + STREAM_TIME_RESOLUTION <= at]
    if before:
        last = before[-1]
        exists = last.event_name != "REMOVE"
        if exists and last.new_image is None:
            raise ArchiveCorrupt(f"change {last.event_id} has no NewImage")
        return ItemState(at, exists, last.new_image if exists else None, last, list(history))
    if not history:
        raise InvalidInput("no archived change of this item in the searched window")
    first = history[0]
    if first.event_name == "INSERT":
        return ItemState(at, False, None, first, list(history))
    if first.old_image is None:
        raise ArchiveCorrupt(f"change {first.event_id} has no OldImage")
    return ItemState(at, True, first.old_image, first, list(history))


def restore_item(
    state: ItemState, dynamodb: DynamoDBClient, target: str, protected_live: Mapping[str, str], *, force: bool
) -> str:
    """Write one item's state into `target`; returns "put" or "delete"."""
    guard_target(target, protected_live, force=force)
    op = KeyOp(state.based_on.keys, state.item if state.exists else None, state.based_on)
    BatchWriter(dynamodb, target).write([op.request()])
    return "put" if state.exists else "delete"
