"""Issue 14 items 3, 4 and 8: the archive read across cutovers and rollbacks, at whole seconds.

`customers` is the original table (older stream label), `customers-dr-1` the restored one
(newer label). The live-table history says: customers until C1, customers-dr-1 until C2, then
customers again (a rollback).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dynamodb_dr.cdc.archive import ArchiveScan, ArchiveStore, read_changes
from dynamodb_dr.cdc.model import Change, dedupe, plan_objects
from dynamodb_dr.cdc.replay import final_ops, state_at
from dynamodb_dr.cdc.timeline import LiveTimeline, read_timeline, timeline_prefix
from dynamodb_dr.core.errors import ArchiveCorrupt, InvalidInput

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
C1 = T0 + timedelta(minutes=10, microseconds=400_000)  # cutover, inside a second
C2 = T0 + timedelta(minutes=20, microseconds=600_000)  # rollback
ORIGINAL, RESTORED = "customers", "customers-dr-1"
LABELS = {ORIGINAL: "2026-11-01T00:00:00.000", RESTORED: "2026-11-26T10:05:00.000"}


def change(table: str, seq: int, at: datetime, value: int, key: str = "a", name: str = "MODIFY") -> Change:
    image = {"id": {"S": key}, "v": {"N": str(value)}}
    return Change(
        table="customers",
        source_table=table,
        stream_label=LABELS[table],
        event_id=f"{table}-{seq}",
        event_name=name,  # type: ignore[arg-type]
        sequence_number=str(seq),
        approximate_creation=at.replace(microsecond=0),  # AWS stamps whole seconds
        keys={"id": {"S": key}},
        new_image=None if name == "REMOVE" else image,
        old_image=image,
    )


class MemoryArchive(ArchiveStore):
    def __init__(self) -> None:
        super().__init__(None, "bucket")  # type: ignore[arg-type]
        self.objects: dict[str, bytes] = {}

    def add(self, changes: list[Change]) -> None:
        for obj in plan_objects(changes):
            self.objects[obj.key] = obj.body()

    def switch(self, since: datetime, table: str, version: int) -> None:
        key = f"{timeline_prefix('customers')}{since:%Y%m%dT%H%M%S.%fZ}-{version:06d}.json"
        self.objects[key] = json.dumps({"table": table, "since": since.isoformat()}).encode()

    def keys(self, prefix: str) -> Iterator[str]:
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    def get(self, key: str) -> bytes:
        return self.objects[key]


@pytest.fixture
def archive() -> MemoryArchive:
    store = MemoryArchive()
    store.switch(T0 - timedelta(days=1), ORIGINAL, 1)  # the pointer, published
    store.switch(C1, RESTORED, 2)
    store.switch(C2, ORIGINAL, 3)
    return store


def read(store: ArchiveStore, scan: ArchiveScan | None = None) -> list[Change]:
    return list(read_changes(store, "customers", T0 - timedelta(hours=1), T0 + timedelta(hours=1), scan))


def test_replay_through_a_cutover_and_a_rollback_ends_on_the_last_live_write(archive: MemoryArchive) -> None:
    archive.add([change(ORIGINAL, 100, T0 + timedelta(minutes=1), 1)])
    archive.add([change(RESTORED, 5, T0 + timedelta(minutes=15), 2)])  # live: restored
    archive.add([change(ORIGINAL, 200, T0 + timedelta(minutes=25), 3)])  # live again: original
    ops = final_ops(read(archive))
    assert ops[0].item == {"id": {"S": "a"}, "v": {"N": "3"}}  # not the newer label's 2
    history = dedupe(read(archive))
    assert [c.new_image["v"]["N"] for c in history if c.new_image] == ["1", "2", "3"]  # in time order
    assert state_at(history, T0 + timedelta(minutes=16)).item == {"id": {"S": "a"}, "v": {"N": "2"}}


def test_late_writes_of_a_table_that_is_no_longer_live_do_not_count(archive: MemoryArchive) -> None:
    archive.add([change(RESTORED, 5, T0 + timedelta(minutes=12), 2)])
    # The original table still takes a late write after the cutover (and is archived, losslessly)...
    archive.add([change(ORIGINAL, 150, T0 + timedelta(minutes=13), 99)])
    scan = ArchiveScan()
    changes = read(archive, scan)
    assert [c.source_table for c in changes] == [RESTORED] and scan.not_live == 1
    assert final_ops(changes)[0].item == {"id": {"S": "a"}, "v": {"N": "2"}}
    # ... and its object never overwrites or shares a key with the live table's.
    assert len([k for k in archive.objects if k.endswith(".jsonl.gz")]) == 2


def test_in_the_second_of_a_switch_both_sides_count_and_the_earlier_period_sorts_first(
    archive: MemoryArchive,
) -> None:
    second = C1.replace(microsecond=0)
    archive.add([change(RESTORED, 5, second, 2)])  # made after C1, stamped in C1's second
    archive.add([change(ORIGINAL, 150, second, 1)])  # made before C1, same stamp
    ordered = dedupe(read(archive))
    assert [c.source_table for c in ordered] == [ORIGINAL, RESTORED]
    assert final_ops(ordered)[0].item == {"id": {"S": "a"}, "v": {"N": "2"}}
    # After the rollback the original's newer period wins its switch second over the restored table.
    back = C2.replace(microsecond=0)
    archive.add([change(ORIGINAL, 300, back, 4), change(ORIGINAL, 301, back, 5)])
    archive.add([change(RESTORED, 9, back, 3)])
    assert final_ops(read(archive))[0].item == {"id": {"S": "a"}, "v": {"N": "5"}}


def test_without_recorded_history_every_change_counts_in_time_order() -> None:
    store = MemoryArchive()
    store.add([change(RESTORED, 5, T0 + timedelta(minutes=1), 2)])
    store.add([change(ORIGINAL, 900, T0 + timedelta(minutes=2), 1)])
    assert not read_timeline(store, "customers").recorded
    assert final_ops(read(store))[0].item == {"id": {"S": "a"}, "v": {"N": "1"}}


def test_within_one_stream_the_sequence_number_decides_even_against_the_clock() -> None:
    later_seq_earlier_stamp = change(ORIGINAL, 11, T0, 2)
    earlier_seq = change(ORIGINAL, 10, T0 + timedelta(seconds=1), 1)
    assert [c.sequence_number for c in dedupe([later_seq_earlier_stamp, earlier_seq])] == ["10", "11"]


def test_a_window_starting_inside_a_second_keeps_the_changes_stamped_with_that_second() -> None:
    store = MemoryArchive()
    made = T0 + timedelta(seconds=30, microseconds=700_000)  # stamped 10:00:30
    store.add([change(ORIGINAL, 1, made, 1)])
    start = T0 + timedelta(seconds=30, microseconds=500_000)  # e.g. LatestRestorableDateTime
    assert [
        c.sequence_number for c in read_changes(store, "customers", start, start + timedelta(minutes=1))
    ] == ["1"]


def test_an_item_time_inside_the_second_of_one_of_its_changes_is_refused() -> None:
    history = [change(ORIGINAL, 1, T0, 1), change(ORIGINAL, 2, T0 + timedelta(seconds=5), 2)]
    with pytest.raises(InvalidInput, match="whole seconds"):
        state_at(history, T0 + timedelta(seconds=5, microseconds=300_000))
    assert state_at(history, T0 + timedelta(seconds=4)).item == {"id": {"S": "a"}, "v": {"N": "1"}}
    assert state_at(history, T0 + timedelta(seconds=6)).item == {"id": {"S": "a"}, "v": {"N": "2"}}


def test_timeline_from_versions_merges_repeats_and_knows_who_was_live() -> None:
    timeline = LiveTimeline.from_versions(
        "customers", [(C2, ORIGINAL), (C1, RESTORED), (T0, ORIGINAL), (T0 + timedelta(minutes=1), ORIGINAL)]
    )
    assert [e.table for e in timeline.epochs] == [ORIGINAL, RESTORED, ORIGINAL]
    assert timeline.live_at(C1 - timedelta(seconds=1)) == ORIGINAL
    assert timeline.live_at(C1) == RESTORED and timeline.live_at(C2) == ORIGINAL
    assert timeline.periods(RESTORED) == [(C1, C2)]


def test_an_unreadable_history_record_is_a_named_error(archive: MemoryArchive) -> None:
    archive.objects[f"{timeline_prefix('customers')}broken.json"] = gzip.compress(b"x")
    with pytest.raises(ArchiveCorrupt, match=r"broken\.json"):
        read(archive)
