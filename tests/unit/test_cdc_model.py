"""CDC archive model: stream record parsing, deterministic object keys, batch archiving with faults."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dynamodb_dr.cdc.archive import ArchiveStore, LogicalNames, archive_batch
from dynamodb_dr.cdc.model import (
    Change,
    binary_to_bytes,
    change_from_record,
    dedupe,
    parse_stream_arn,
    plan_objects,
    read_object,
    sequence_of,
)
from dynamodb_dr.cdc.store import Held
from dynamodb_dr.core.errors import (
    ArchiveCorrupt,
    MalformedStreamRecord,
    TableNotProtected,
    TransientAwsError,
)

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/customers/stream/2026-11-26T10:00:00.000"
T0 = datetime(2026, 11, 26, 10, 59, 58, tzinfo=UTC).timestamp()


def record(
    seq: int, name: str = "MODIFY", *, at: float = T0, key: str = "k1", **extra: Any
) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": at,
        "Keys": {"id": {"S": key}},
        "SequenceNumber": str(seq),
        "SizeBytes": 42,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if name != "REMOVE":
        dynamodb["NewImage"] = {"id": {"S": key}, "v": {"N": str(seq)}, "blob": {"B": "AAEC"}}
    if name != "INSERT":
        dynamodb["OldImage"] = {"id": {"S": key}, "v": {"N": str(seq - 1)}}
    return {"eventID": f"e{seq}", "eventName": name, "eventSourceARN": ARN, "dynamodb": dynamodb, **extra}


def same(name: str) -> str:
    return name


class MemoryStore(ArchiveStore):
    """Puts numbered from 1; `fail_on` fail, `lost_ack` are written and then fail (timeout)."""

    def __init__(self, fail_on: set[int] | None = None, lost_ack: set[int] | None = None) -> None:
        super().__init__(None, "bucket")
        self.objects: dict[str, bytes] = {}
        self.calls = 0
        self.gets = 0
        self.fail_on = fail_on or set()
        self.lost_ack = lost_ack or set()

    def put_new(
        self, key: str, body: bytes, records: int, *, newest: datetime | None = None, erased: int = 0
    ) -> bool:
        self.calls += 1
        if self.calls in self.fail_on:
            raise TransientAwsError("SlowDown: injected")
        if key in self.objects:
            return False  # S3: 412 PreconditionFailed
        self.objects[key] = body
        if self.calls in self.lost_ack:
            raise TransientAwsError("RequestTimeout: injected after the write")
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
        self.calls += 1
        assert etag == str(hash(self.objects[key])), "replace only over the version read"
        self.objects[key] = body

    def keys(self, prefix: str) -> Iterator[str]:
        raise AssertionError("the archiver never lists")

    def get_tagged(self, key: str) -> Held:
        self.gets += 1
        return Held(self.objects[key], str(hash(self.objects[key])))


def test_record_becomes_lossless_line() -> None:
    change = change_from_record(record(101), same)
    assert change.table == "customers" and change.source_table == "customers"
    assert change.stream_label == "2026-11-26T10:00:00.000"
    assert change.new_image == {"id": {"S": "k1"}, "v": {"N": "101"}, "blob": {"B": "AAEC"}}
    assert change.old_image == {"id": {"S": "k1"}, "v": {"N": "100"}}
    assert not change.ttl_delete
    line = change.to_line()
    assert '"SequenceNumber":"101"' in line and '"eventName":"MODIFY"' in line
    assert Change.model_validate_json(line) == change


@pytest.mark.parametrize(
    "at",
    [T0, T0 + 0.5, T0 + 0.000001, 1_700_000_000.123456, 0.0],
    ids=["whole", "half", "1us", "us", "epoch"],
)
def test_the_fast_line_is_byte_for_byte_pydantics_json(at: float) -> None:
    """The archiver encodes lines with orjson (issue 16's throughput); archives written before
    (pydantic's encoder) and after must hold the same bytes for the same change."""
    odd = {
        "id": {"S": 'k1 \u00e9\u4e2d\U0001f600 \u2028\u2029 "q" \\ / \t\n\x00\x1f\x7f'},
        "n": {"N": "-1.2345678901234567890123456789012345678E+125"},
        "l": {"L": [{"NULL": True}, {"BOOL": False}, {"M": {"x": {"SS": ["a", "b"]}}}]},
        "b": {"B": "AAEC"},
    }
    rec = record(101, at=at)
    rec["dynamodb"]["NewImage"] = odd
    rec["dynamodb"]["SizeBytes"] = 2**40
    for change in (change_from_record(rec, same), change_from_record(record(102, "REMOVE", at=at), same)):
        assert change.line_bytes() == change.model_dump_json(by_alias=True).encode()
        assert Change.model_validate_json(change.line_bytes()) == change


def test_an_archived_line_without_a_key_is_corrupt() -> None:
    line = change_from_record(record(9), same).to_line().replace('"Keys":{"id":{"S":"k1"}}', '"Keys":{}')
    with pytest.raises(ArchiveCorrupt):
        read_object(gzip.compress(line.encode()), "cdc/x.jsonl.gz")


def test_ttl_delete_is_flagged() -> None:
    ttl = record(5, "REMOVE", userIdentity={"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    assert change_from_record(ttl, same).ttl_delete
    assert not change_from_record(record(6, "REMOVE"), same).ttl_delete


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("dynamodb"),
        lambda r: r["dynamodb"].pop("SequenceNumber"),
        lambda r: r["dynamodb"].update(SequenceNumber="abc"),
        lambda r: r["dynamodb"].update(Keys={}),
        lambda r: r.update(eventName="UPSERT"),
        lambda r: r.update(eventSourceARN="arn:aws:sqs:us-east-1:1:queue"),
        lambda r: r["dynamodb"].update(ApproximateCreationDateTime="yesterday"),
        lambda r: r["dynamodb"].update(Keys=[{"id": {"S": "k1"}}]),
        lambda r: r["dynamodb"].update(NewImage="not an object"),
        lambda r: r["dynamodb"].update(OldImage=[1, 2]),
    ],
)
def test_malformed_records_are_named_errors_without_values(mutate: Any) -> None:
    bad = record(7)
    bad["dynamodb"]["NewImage"]["secret"] = {"S": "hunter2"}
    mutate(bad)
    with pytest.raises(MalformedStreamRecord) as info:
        change_from_record(bad, same)
    assert "hunter2" not in str(info.value)


def test_stream_arn_parsing() -> None:
    assert parse_stream_arn(ARN).physical_table == "customers"
    with pytest.raises(MalformedStreamRecord):
        parse_stream_arn("nonsense")


def test_sequence_of() -> None:
    assert sequence_of(record(12)) == "12"
    assert sequence_of({"dynamodb": {}}) is None
    assert sequence_of({}) is None


def test_key_is_deterministic_and_partitioned_by_change_hour() -> None:
    changes = [change_from_record(record(s, at=T0 + (s - 1)), same) for s in range(1, 5)]
    objects = plan_objects(changes)
    # 10:59:58, 10:59:59 | 11:00:00, 11:00:01: the batch crosses an hour, so two objects.
    assert [len(o.changes) for o in objects] == [2, 2]
    assert objects[0].key == (
        f"cdc/table=customers/dt=2026-11-26/hour=10/customers--2026-11-26T100000.000/{1:040d}.jsonl.gz"
    )
    assert "/hour=11/" in objects[1].key and objects[1].first_index == 2
    again = plan_objects(changes)
    assert [o.key for o in again] == [o.key for o in objects]
    assert again[0].body() == objects[0].body()  # the same changes give the same bytes


def test_retry_from_an_object_boundary_cuts_the_same_objects() -> None:
    changes = [change_from_record(record(s), same) for s in range(1, 11)]
    first = plan_objects(changes, max_records=3)
    resumed = plan_objects(changes[3:], max_records=3, indices=range(3, 10))
    assert [o.key for o in resumed] == [o.key for o in first[1:]]


def test_object_round_trip_and_corruption() -> None:
    changes = [change_from_record(record(s), same) for s in range(1, 4)]
    obj = plan_objects(changes)[0]
    assert read_object(obj.body()) == changes
    with pytest.raises(ArchiveCorrupt):
        read_object(b"not gzip", "k")
    with pytest.raises(ArchiveCorrupt):
        read_object(gzip.compress(b'{"half": '), "k")


def test_binary_values_become_bytes_for_the_client() -> None:
    image = {"b": {"B": "AAE="}, "m": {"M": {"bs": {"BS": ["AQ=="]}}}, "l": {"L": [{"B": "Ag=="}]}}
    assert binary_to_bytes(image) == {
        "b": {"B": b"\x00\x01"},
        "m": {"M": {"bs": {"BS": [b"\x01"]}}},
        "l": {"L": [{"B": b"\x02"}]},
    }


def test_dedupe_orders_per_stream_then_sequence() -> None:
    a = change_from_record(record(20), same)
    b = change_from_record(record(3), same)
    later_stream = change_from_record(
        {
            **record(1),
            "eventSourceARN": ARN.replace(
                "customers/stream/2026-11-26T10", "customers-dr-1/stream/2026-11-27T10"
            ),
        },
        same,
    )
    assert dedupe([later_stream, a, b, a]) == [b, a, later_stream]


def test_archive_batch_reports_first_unarchived_record() -> None:
    records = [record(s) for s in range(1, 11)]
    store = MemoryStore(fail_on={2})
    result = archive_batch(records, store, same, max_records=4)
    assert result.failed_index == 4 and result.archived == 4 and result.objects == 1
    assert "TransientAwsError" in (result.failure or "")
    assert store.calls == 2  # nothing after the failed object is written
    retry = archive_batch(records[4:], store, same, max_records=4)
    assert retry.ok and retry.archived == 6
    archived = [c for body in store.objects.values() for c in read_object(body)]
    assert sorted(int(c.sequence_number) for c in archived) == list(range(1, 11))


def test_a_write_whose_ack_was_lost_is_not_archived_twice() -> None:
    records = [record(s) for s in range(1, 11)]
    store = MemoryStore(lost_ack={1})
    first = archive_batch(records[:6], store, same, max_records=4)
    assert first.failed_index == 0  # written, but the attempt failed: Lambda retries it
    # The retry is cut differently (bigger batch), yet 1-4 are not stored again.
    retry = archive_batch(records, store, same, max_records=4)
    assert retry.ok and retry.already_archived == 4 and retry.archived == 10
    archived = [int(c.sequence_number) for body in store.objects.values() for c in read_object(body)]
    assert sorted(archived) == list(range(1, 11))


def test_a_shard_whose_sequence_numbers_fall_inside_another_shards_object_is_archived() -> None:
    # Shards of one stream interleave sequence numbers: shard A's object spans 100..500 and
    # shard B's change 300 lies inside that range without being in it.
    store = MemoryStore()
    shard_a = archive_batch([record(100, key="a"), record(500, key="a")], store, same)
    shard_b = archive_batch([record(300, key="b")], store, same)
    assert shard_a.ok and shard_b.ok
    assert shard_b.already_archived == 0 and shard_b.objects == 1
    archived = sorted(int(c.sequence_number) for body in store.objects.values() for c in read_object(body))
    assert archived == [100, 300, 500]


def test_archive_batch_stops_at_a_malformed_record() -> None:
    records = [record(1), record(2), {"eventID": "x", "dynamodb": {"SequenceNumber": "3"}}, record(4)]
    store = MemoryStore()
    result = archive_batch(records, store, same)
    assert result.failed_index == 2 and result.archived == 2
    assert "MalformedStreamRecord" in (result.failure or "")


def test_logical_names() -> None:
    calls: list[int] = []

    def pointers() -> dict[str, str]:
        calls.append(1)
        return {"orders-blue": "orders"}

    names = LogicalNames(["customers", "orders"], pointers)
    assert names("customers") == "customers"
    assert names("customers-dr-20261126") == "customers"
    assert names("orders-blue") == "orders" and names("orders-blue") == "orders"
    assert len(calls) == 1
    with pytest.raises(TableNotProtected):
        names("payments")


def flip(body: bytes, at: int) -> bytes:
    """Flipped bytes inside the deflate stream: zlib.error on decompression, not OSError."""
    return body[:at] + bytes(b ^ 0xFF for b in body[at : at + 4]) + body[at + 4 :]


def test_flipped_bytes_inside_an_object_are_archive_corrupt_naming_the_key() -> None:
    changes = [change_from_record(record(s), same) for s in range(1, 40)]
    body = plan_objects(changes)[0].body()
    for at in (12, len(body) // 2, len(body) - 12):
        with pytest.raises(ArchiveCorrupt, match="cdc/some/key"):
            read_object(flip(body, at), "cdc/some/key")


def test_the_happy_path_writes_each_object_with_one_request_and_reads_nothing() -> None:
    store = MemoryStore()
    result = archive_batch([record(s) for s in range(1, 11)], store, same, max_records=4)
    assert result.ok and result.objects == 3 and store.calls == 3 and store.gets == 0


def test_a_whole_batch_retried_after_a_function_error_stores_nothing_twice() -> None:
    records = [record(s) for s in range(1, 11)]
    store = MemoryStore(fail_on={3})  # as if the function died writing its third object
    archive_batch(records, store, same, max_records=4)
    retry = archive_batch(records, store, same, max_records=4)  # Lambda replays the whole batch
    assert retry.ok and retry.already_archived == 8 and retry.objects == 1
    archived = [int(c.sequence_number) for body in store.objects.values() for c in read_object(body)]
    assert sorted(archived) == list(range(1, 11))


def test_an_unreadable_object_at_the_batch_key_is_repaired_not_a_block() -> None:
    records = [record(s) for s in range(1, 7)]
    store = MemoryStore()
    archive_batch(records, store, same, max_records=3)
    key = next(k for k in store.objects if k.endswith(f"{4:040d}.jsonl.gz"))
    store.objects[key] = flip(store.objects[key], len(store.objects[key]) // 2)
    retry = archive_batch(records[3:], store, same, max_records=3)  # e.g. a lost-ack retry
    assert retry.ok and retry.repaired == 1 and retry.archived == 3
    archived = [int(c.sequence_number) for body in store.objects.values() for c in read_object(body)]
    assert sorted(archived) == list(range(1, 7))


def test_an_unreadable_object_elsewhere_in_the_folder_is_never_read() -> None:
    store = MemoryStore()
    archive_batch([record(s) for s in range(1, 4)], store, same)
    key = next(iter(store.objects))
    store.objects[key] = b"\x1f\x8b garbage"
    later = archive_batch([record(s) for s in range(4, 8)], store, same)
    assert later.ok and later.archived == 4 and store.gets == 0


def test_a_batch_bisected_after_a_function_error_stores_nothing_twice() -> None:
    records = [record(s) for s in range(1, 11)]
    store = MemoryStore(fail_on={3})  # objects 1-4 and 5-8 written, then the function died
    archive_batch(records, store, same, max_records=4)
    # Lambda bisects the failed batch: [1..5] then [6..10]; the second half starts inside 5-8.
    first_half = archive_batch(records[:5], store, same, max_records=4)
    second_half = archive_batch(records[5:], store, same, max_records=4)
    assert first_half.ok and second_half.ok
    archived = [int(c.sequence_number) for body in store.objects.values() for c in read_object(body)]
    assert sorted(archived) == list(range(1, 11))  # each change exactly once
    assert second_half.already_archived == 3  # 6-8, moved where the second half's write met them
