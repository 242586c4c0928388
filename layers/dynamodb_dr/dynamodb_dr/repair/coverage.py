"""Read a repair window from the CDC archive and prove the archive holds every change of it.

A repair trusts the archive to name every key the window changed: a key whose change is missing
would silently stay corrupted. So the window is refused, with what is missing, when
- an archive object in the window is unreadable (corrupt) or was deleted (a delete marker),
- the CDC failure queue holds a batch of the table's stream from the window (never archived),
- the archive has not provably reached the window's end: a shard is archived in order, so an
  archived change stamped at or after the end proves its stream got there; failing that (a quiet
  table) the live table's stream itself is read and every record made in the window must be in
  the archive.
A change `dynamodb-dr erase` removed from the archive (cdc/erased.py records it) is not missing: it
was archived, so it counts towards how far its stream got, and its stream record is accounted for;
its key is erased, so there is nothing to repair. The purge rewrites objects, it never deletes one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dynamodb_dr.cdc.archive import ArchiveStore, hours_between, whole_second
from dynamodb_dr.cdc.erased import ErasedChange, hour_prefix, parse_record
from dynamodb_dr.cdc.model import Change, partition_prefix, read_object
from dynamodb_dr.cdc.timeline import LiveTimeline, read_timeline
from dynamodb_dr.core.errors import ArchiveCorrupt, RepairCoverageIncomplete, RepairWindowTooLarge
from dynamodb_dr.repair.sources import ArchiveVersions, FailedBatch, StreamTail

SECOND = timedelta(seconds=1)
STREAM_RETENTION = timedelta(hours=23)  # DynamoDB keeps stream records 24 hours (margin kept)
SHOWN = 3  # object keys named in a refusal (the rest are counted)


@dataclass
class StreamState:
    table: str
    label: str
    newest: datetime | None = None
    reached_end: bool = False
    sequences: set[int] = field(default_factory=set)  # archived, stamped within the window
    erased: set[int] = field(default_factory=set)  # archived, then removed by an erasure (window)

    @property
    def folder(self) -> str:
        return stream_folder_name(self.table, self.label)


def stream_folder_name(table: str, label: str) -> str:
    """The archive folder of one stream (cdc/model.py stream_folder's last part)."""
    return f"{table}--{label.replace(':', '')}"


@dataclass
class WindowRead:
    changes: list[Change] = field(default_factory=list)  # stamped within [second of start, end]
    objects: int = 0
    lines: int = 0
    not_live: int = 0
    erased: int = 0  # changes of the window's hours removed by an erasure (recorded)
    corrupt: list[str] = field(default_factory=list)
    streams: dict[tuple[str, str], StreamState] = field(default_factory=dict)
    timeline: LiveTimeline | None = None


def read_window(
    store: ArchiveStore, logical: str, start: datetime, end: datetime, *, max_changes: int | None = None
) -> WindowRead:
    """Every live change stamped within [whole second of start, end]; unreadable objects are
    collected (not raised) so a refusal can name them all. More than `max_changes` of them is
    refused as soon as it is seen (the plan holds them in memory)."""
    read = WindowRead(timeline=read_timeline(store, logical))
    first = whole_second(start)
    for hour in hours_between(first, end):
        for key in store.keys(partition_prefix(logical, hour)):
            if not key.endswith(".jsonl.gz"):
                continue
            read.objects += 1
            try:
                changes = read_object(store.get(key), key)
            except ArchiveCorrupt:
                read.corrupt.append(key)
                continue
            for change in changes:
                _take(read, change, first, end)
            if max_changes is not None and len(read.changes) > max_changes:
                raise RepairWindowTooLarge(
                    f"the window {start:%Y-%m-%dT%H:%M:%SZ}..{end:%Y-%m-%dT%H:%M:%SZ} of {logical} holds "
                    f"more than {max_changes:,} changes, more than one repair plans at once "
                    "(REPAIR_MAX_CHANGES): split it into shorter windows, each repaired on its own; "
                    "nothing was written",
                    table=logical,
                )
        _take_erased(store, read, hour_prefix(logical, hour), window=(first, end))
    return read


def _take_erased(
    store: ArchiveStore, read: WindowRead, prefix: str, *, window: tuple[datetime, datetime]
) -> None:
    """The erasure records of one hour: how far each stream got, and its records accounted for."""
    first, end = window
    for key in store.keys(prefix):
        if not key.endswith(".json"):
            continue
        try:
            record = parse_record(store.get(key), key)
        except ArchiveCorrupt:
            read.corrupt.append(key)  # what was removed on purpose is unknown: refuse
            continue
        for change in record.changes:
            read.erased += 1
            state = _stream(read, change)
            _reached(state, change.approximate_creation, end)
            if first <= change.approximate_creation <= end:
                state.erased.add(int(change.sequence_number))


def _stream(read: WindowRead, change: Change | ErasedChange) -> StreamState:
    return read.streams.setdefault(
        (change.source_table, change.stream_label), StreamState(change.source_table, change.stream_label)
    )


def _reached(state: StreamState, stamp: datetime, end: datetime) -> None:
    state.newest = max(stamp, state.newest or stamp)
    state.reached_end = state.reached_end or stamp >= end


def _take(read: WindowRead, change: Change, first: datetime, end: datetime) -> None:
    read.lines += 1
    stamp = change.approximate_creation
    state = _stream(read, change)
    _reached(state, stamp, end)
    if not first <= stamp <= end:
        return
    assert read.timeline is not None
    rank = read.timeline.rank(change)
    if rank is None:  # a late write to a table that was not live then (archived, not history)
        read.not_live += 1
        return
    state.sequences.add(int(change.sequence_number))
    read.changes.append(change if rank == 0 else change.model_copy(update={"live_epoch": rank}))


@dataclass
class CoverageEvidence:
    """What the proof may consult besides the archive (None: not available here)."""

    versions: ArchiveVersions | None = None
    failed_batches: list[FailedBatch] | None = None
    stream_tail: StreamTail | None = None
    live_stream_arn: str | None = None  # the live table's current stream
    stream_limit: int = 100_000


def prove_coverage(
    store: ArchiveStore,
    read: WindowRead,
    *,
    logical: str,
    live_table: str,
    start: datetime,
    end: datetime,
    now: datetime,
    evidence: CoverageEvidence,
) -> dict[str, str]:
    """How each stream was proven ({stream folder: proof}); RepairCoverageIncomplete otherwise."""
    check = _Check(store, read, logical, live_table, start, end, now, evidence)
    problems = check.gaps()
    proofs, behind = check.reached()
    problems += behind
    if problems:
        raise RepairCoverageIncomplete(
            f"the CDC archive does not prove the window {start:%Y-%m-%dT%H:%M:%SZ}..{end:%Y-%m-%dT%H:%M:%SZ} "
            f"of {logical}: " + "; ".join(problems) + "; nothing was written",
            table=logical,
        )
    return proofs


@dataclass
class _Check:
    store: ArchiveStore
    read: WindowRead
    logical: str
    live_table: str
    start: datetime
    end: datetime
    now: datetime
    evidence: CoverageEvidence

    def gaps(self) -> list[str]:
        """Changes known to be missing: unreadable or deleted objects, failed batches."""
        problems: list[str] = []
        if self.read.corrupt:
            problems.append(f"unreadable (corrupt) archive objects: {_named(self.read.corrupt)}")
        if self.evidence.versions is not None:
            hours = hours_between(whole_second(self.start), self.end)
            prefixes = [partition_prefix(self.logical, hour) for hour in hours]
            deleted = [key for prefix in prefixes for key in self.evidence.versions.deleted(prefix)]
            if deleted:
                problems.append(f"deleted archive objects (a gap): {_named(deleted)}")
        tables = {self.live_table} | {table for (table, _) in self.read.streams}
        first = whole_second(self.start) - SECOND
        for batch in self.evidence.failed_batches or []:
            if batch.table in tables and batch.first <= self.end and batch.last >= first:
                problems.append(
                    f"stream records of {batch.table} made {batch.first:%Y-%m-%dT%H:%M:%SZ}.."
                    f"{batch.last:%H:%M:%SZ} (sequence {batch.start_sequence}..{batch.end_sequence}) were "
                    "never archived: they are in the CDC failure queue (a gap)"
                )
        return problems

    def reached(self) -> tuple[dict[str, str], list[str]]:
        """Did the archive of every stream that matters get past the window's end?"""
        wanted = {key: state for key, state in self.read.streams.items() if state.sequences}
        arn = self.evidence.live_stream_arn
        live_label = arn.rsplit("/stream/", 1)[1] if arn else None
        if live_label:
            live_key = (self.live_table, live_label)
            wanted.setdefault(live_key, self.read.streams.get(live_key) or StreamState(*live_key))
        proofs = {
            s.folder: f"archived change at {s.newest:%Y-%m-%dT%H:%M:%SZ}, after the window"
            for s in wanted.values()
            if s.reached_end
        }
        if any(s.folder not in proofs for s in wanted.values()):
            later = _streams_archived_after(self.store, self.logical, self.end, self.now)
            proofs |= {
                s.folder: "archived changes in a later hour"
                for s in wanted.values()
                if s.folder in later and s.folder not in proofs
            }
        problems: list[str] = []
        for state in (s for s in wanted.values() if s.folder not in proofs):
            if state.label == live_label and state.table == self.live_table and self.evidence.stream_tail:
                problem = _tail_check(state, self.evidence, self.start, self.end, self.now)
                if problem is None:
                    proofs[state.folder] = "every stream record of the window is archived (stream read)"
                    continue
                problems.append(problem)
                continue
            newest = f"{state.newest:%Y-%m-%dT%H:%M:%SZ}" if state.newest else "nothing"
            problems.append(
                f"archive behind: the archive of {state.table}'s stream {state.label} reaches only "
                f"{newest}, not the window's end {self.end:%Y-%m-%dT%H:%M:%SZ} (wait for the archiver, "
                "or end the window earlier)"
            )
        return proofs, problems


def _streams_archived_after(store: ArchiveStore, logical: str, end: datetime, now: datetime) -> set[str]:
    """Stream folders holding objects in the hours after the window's end (their every change is
    after it, so they prove their stream got past it)."""
    found: set[str] = set()
    first_hour = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for hour in hours_between(first_hour, now) if first_hour <= now else ():
        for key in store.keys(partition_prefix(logical, hour)):
            parts = key.split("/")
            if key.endswith(".jsonl.gz") and len(parts) >= 6:
                found.add(parts[4])
    return found


def _tail_check(
    state: StreamState, evidence: CoverageEvidence, start: datetime, end: datetime, now: datetime
) -> str | None:
    assert evidence.stream_tail is not None and evidence.live_stream_arn
    if now - whole_second(start) > STREAM_RETENTION:
        return (
            f"the archive of {state.table} has no change after the window's end, and the window is older "
            "than the stream's 24-hour retention, so the stream cannot show what is missing"
        )
    records, truncated = evidence.stream_tail.records(evidence.live_stream_arn, evidence.stream_limit)
    in_window = [r for r in records if whole_second(start) <= r.created <= end]
    archived = state.sequences | state.erased  # a change an erasure removed was archived
    missing = [r for r in in_window if int(r.sequence) not in archived]
    if missing:
        return (
            f"archive behind: {len(missing)} stream record(s) of {state.table} made in the window "
            f"(the first at {missing[0].created:%Y-%m-%dT%H:%M:%SZ}) are not archived yet; "
            "wait for the archiver"
        )
    if truncated:
        return (
            f"the archive of {state.table} has no change after the window's end and its stream holds more "
            f"than {evidence.stream_limit:,} records to check: end the window earlier"
        )
    return None


def _named(keys: Iterable[str]) -> str:
    listed = sorted(set(keys))
    shown = ", ".join(listed[:SHOWN])
    return shown + (f" and {len(listed) - SHOWN} more" if len(listed) > SHOWN else "")
