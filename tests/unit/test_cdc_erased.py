"""The erasure records of the CDC archive (cdc/erased.py): where they live, what they hold, and how
the archiver uses them when Lambda delivers a batch again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamodb_dr.cdc.archive import ArchiveStore, archive_batch
from dynamodb_dr.cdc.erased import ErasedRecord, hour_prefix, parse_record, record_key
from dynamodb_dr.cdc.model import ArchiveObject, Change, object_key, partition_prefix, read_object
from dynamodb_dr.cdc.store import Held
from dynamodb_dr.core.errors import ArchiveCorrupt

T0 = datetime(2026, 11, 26, 10, 59, 58, tzinfo=UTC)


def change(seq: int, key: str = "k1", at: datetime = T0) -> Change:
    return Change(
        table="customers",
        source_table="customers",
        stream_label="2026-11-26T10:00:00.000",
        event_id=f"e{seq}",
        event_name="MODIFY",
        sequence_number=str(seq),
        approximate_creation=at,
        keys={"id": {"S": key}},
        new_image={"id": {"S": key}, "email": {"S": "person@example.com"}},
    )


def test_a_record_sits_beside_the_archive_outside_its_partitions() -> None:
    obj = object_key([change(7)])
    key = record_key(obj)
    assert key.startswith(hour_prefix("customers", T0))
    assert key.endswith(f"{7:040d}.json")
    assert not key.startswith(partition_prefix("customers", T0))  # not in the Glue table's data
    assert key.startswith("cdc/table=customers/erased/dt=2026-11-26/hour=10/customers--")


def test_adding_merges_by_sequence_and_keeps_neither_key_nor_image() -> None:
    empty = ErasedRecord(object="o", changes=(), updated_at=T0)
    first = empty.adding([change(9), change(3)], T0)
    again = first.adding([change(3), change(5, at=T0 + timedelta(seconds=1))], T0 + timedelta(hours=1))
    assert [c.sequence_number for c in again.changes] == ["3", "5", "9"]
    assert again.sequences == {3, 5, 9} and again.updated_at == T0 + timedelta(hours=1)
    text = again.model_dump_json()
    assert "k1" not in text and "person@example.com" not in text
    assert parse_record(text.encode(), "r") == again


@pytest.mark.parametrize("body", [b"not json", b'{"object": "o", "changes": [{"x": 1}]}', b""])
def test_an_unreadable_record_is_named_corrupt(body: bytes) -> None:
    with pytest.raises(ArchiveCorrupt, match=r"erasure record 'cdc/x\.json' unreadable"):
        parse_record(body, "cdc/x.json")


class ErasedMemoryStore(ArchiveStore):
    """An in-memory archive whose objects may carry an erasure mark and a record."""

    def __init__(self) -> None:
        super().__init__(None, "bucket")  # type: ignore[arg-type]
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.records: dict[str, ErasedRecord] = {}

    def put_new(
        self, key: str, body: bytes, records: int, *, newest: datetime | None = None, erased: int = 0
    ) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = (body, erased)
        return True

    def replace(
        self,
        key: str,
        body: bytes,
        records: int,
        etag: str,
        *,
        newest: datetime | None = None,
        erased: int = 0,
    ) -> None:
        self.objects[key] = (body, erased)

    def get_tagged(self, key: str) -> Held:
        body, erased = self.objects[key]
        return Held(body, "etag", erased)

    def erased_record(self, key: str) -> ErasedRecord | None:
        return self.records.get(key)

    def put_erased_record(self, record: ErasedRecord) -> None:
        self.records.setdefault(record.object, record)

    def sequences(self) -> list[int]:
        return sorted(int(c.sequence_number) for body, _ in self.objects.values() for c in read_object(body))


def erased_from(store: ErasedMemoryStore, seqs: set[int], *, recorded: bool) -> None:
    """What the purge leaves: the object without `seqs`, marked, with (or without) its record."""
    [(key, (body, _))] = store.objects.items()
    held = read_object(body)
    kept = tuple(c for c in held if int(c.sequence_number) not in seqs)
    store.objects[key] = (ArchiveObject(key, kept, 0).body(), len(seqs))
    if recorded:
        store.records[key] = ErasedRecord(object=key, changes=(), updated_at=T0).adding(
            [c for c in held if int(c.sequence_number) in seqs], T0
        )


def records(*seqs: int) -> list[dict[str, Any]]:
    from test_cdc_model import record  # the stream record shape the archiver gets

    return [record(s, key=f"k{s}") for s in seqs]


@pytest.mark.parametrize("recorded", [True, False], ids=["record", "record-lost"])
def test_a_retried_batch_skips_what_an_erasure_removed(recorded: bool) -> None:
    store = ErasedMemoryStore()
    batch = records(10, 11, 12)
    assert archive_batch(batch, store, str).ok
    erased_from(store, {11}, recorded=recorded)  # inside the object's span: found either way
    again = archive_batch(batch, store, str)
    assert again.ok and again.already_archived == 3 and again.objects == 0
    assert store.sequences() == [10, 12]


def test_a_bisected_half_starting_at_an_erased_change_meets_its_record() -> None:
    store = ErasedMemoryStore()
    batch = records(10, 11, 12, 13)
    assert archive_batch(batch, store, str).ok
    erased_from(store, {11, 13}, recorded=True)
    assert archive_batch(batch[:1], store, str).ok  # the object runs past it: moved for the next half
    second = archive_batch(batch[1:], store, str)  # starts at 11, erased
    assert second.ok and second.objects == 0
    assert store.sequences() == [10, 12]
    assert sorted(store.records) == sorted(store.objects)  # the moved part took its record along
