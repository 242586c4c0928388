"""The erasure records of the CDC archive (cdc/erased.py): where they live, what they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dynamodb_dr.cdc.erased import ErasedRecord, hour_prefix, parse_record, record_key
from dynamodb_dr.cdc.model import Change, object_key, partition_prefix
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
