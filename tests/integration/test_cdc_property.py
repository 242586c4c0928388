"""Property: with random S3 faults over many batches the archive holds every change exactly once,
in order per key, and replaying it reproduces the source table."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from cdc_support import Cdc, create_target, items, s3_faults, window
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration
_names = itertools.count()

operation = st.tuples(
    st.sampled_from(["put", "update", "delete"]),
    st.integers(0, 5),  # small key space: keys change many times
    st.one_of(st.integers(-(10**12), 10**12), st.binary(max_size=8), st.text(max_size=12)),
)


def create_streamed(dynamodb: Any, name: str) -> None:
    """A customers-keyed table streaming new and old images (the target of `create_target`, streamed)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def apply(dynamodb: Any, table: str, op: str, key: int, value: Any) -> None:
    item_key = {"customer_id": {"S": f"k{key}"}}
    typed = (
        {"B": value}
        if isinstance(value, bytes)
        else {"N": str(value)}
        if isinstance(value, int)
        else {"S": value}
    )
    if op == "delete":
        dynamodb.delete_item(TableName=table, Key=item_key)
    elif op == "update":
        dynamodb.update_item(
            TableName=table,
            Key=item_key,
            UpdateExpression="SET v = :v, n = if_not_exists(n, :zero) + :one",
            ExpressionAttributeValues={":v": typed, ":zero": {"N": "0"}, ":one": {"N": "1"}},
        )
    else:
        dynamodb.put_item(TableName=table, Item={**item_key, "v": typed, "tags": {"SS": ["a", f"k{key}"]}})


@pytest.fixture
def cdc(emulator: Emulator, stack: DeployedStack) -> Cdc:
    bucket = stack.outputs["ArchiveBucketName"]
    return Cdc(emulator, stack, bucket, None)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(operation, min_size=1, max_size=40),
    batch_size=st.integers(1, 15),
    max_records=st.integers(1, 6),
    faults=st.lists(st.sampled_from([None, None, None, "fail", "lost-ack"]), max_size=40),
)
def test_archive_is_exact_and_replay_reproduces_the_source(
    cdc: Cdc,
    operations: list[tuple[str, int, Any]],
    batch_size: int,
    max_records: int,
    faults: list[str | None],
) -> None:
    dynamodb = cdc.emulator.clients.client("dynamodb")
    resource = cdc.emulator.clients.session_resource("dynamodb")
    s3 = cdc.emulator.clients.client("s3")
    for key in cdc.store().keys("cdc/"):  # every example starts with an empty archive
        s3.delete_object(Bucket=cdc.bucket, Key=key)
    n = next(_names)
    source, target = f"customers-dr-p{n}", f"customers-dr-t{n}"  # restores of `customers`
    create_streamed(dynamodb, source)
    create_target(dynamodb, target)
    cdc.set_env(CDC_MAX_RECORDS_PER_OBJECT=str(max_records))
    reader = StreamReader(dynamodb, cdc.emulator.clients.client("dynamodbstreams"), source)
    for op in operations:
        apply(dynamodb, source, *op)
    records = reader.read()

    with s3_faults(lambda call: faults[call - 1] if call <= len(faults) else None):
        cdc.deliver(records, batch_size, max_attempts=len(records) + len(faults) + 5)

    archived = [change for _, change in cdc.archived()]
    seqs = [c.sequence_number for c in archived]
    assert sorted(seqs, key=int) == [r["dynamodb"]["SequenceNumber"] for r in records]  # each once
    per_key: dict[str, list[int]] = defaultdict(list)
    for change in archived:
        per_key[change.key_id].append(int(change.sequence_number))
    assert all(order == sorted(order) for order in per_key.values())

    start, end = window()
    request = ReplayRequest(table="customers", start=start, end=end, target=target, workers=2)
    replay(request, cdc.store(), dynamodb, {"customers": "customers"}, sleep=lambda s: None)
    assert items(resource, target) == items(resource, source)


def _next_second(margin: float = 0.05) -> None:
    """Sleep into the next whole second: stream times are whole seconds (as on AWS), so a write
    and a live-table switch in one second cannot be ordered; the property keeps them apart."""
    import time

    now = time.time()
    time.sleep(1 - (now % 1) + margin)


step = st.one_of(
    st.tuples(st.just("switch")),
    st.tuples(st.sampled_from(["live", "live", "live", "stale"]), operation),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(step, min_size=1, max_size=24).filter(lambda s: sum(x[0] == "switch" for x in s) <= 2),
    batch_size=st.integers(1, 10),
    faults=st.lists(st.sampled_from([None, None, "fail", "lost-ack"]), max_size=20),
)
def test_replay_through_cutovers_and_rollbacks_applies_exactly_the_live_history(
    cdc: Cdc, steps: list[tuple[Any, ...]], batch_size: int, faults: list[str | None]
) -> None:
    from dynamodb_dr.cdc.timeline import TimelineRecorder
    from dynamodb_dr.core.paths import live_table_parameter, stack_prefix

    dynamodb = cdc.emulator.clients.client("dynamodb")
    resource = cdc.emulator.clients.session_resource("dynamodb")
    s3, ssm = cdc.emulator.clients.client("s3"), cdc.emulator.clients.client("ssm")
    for key in cdc.store().keys("cdc/"):
        s3.delete_object(Bucket=cdc.bucket, Key=key)
    n = next(_names)
    original, restored, target = f"customers-dr-o{n}", f"customers-dr-r{n}", f"customers-dr-t{n}"
    readers = {}
    for name in (original, restored):
        create_streamed(dynamodb, name)
        readers[name] = StreamReader(dynamodb, cdc.emulator.clients.client("dynamodbstreams"), name)
    create_target(dynamodb, target)
    parameter = live_table_parameter(stack_prefix(cdc.stack.name), "customers")
    recorder = TimelineRecorder(ssm, s3, cdc.bucket)

    def switch_to(table: str) -> None:
        _next_second()
        ssm.put_parameter(Name=parameter, Value=table, Type="String", Overwrite=True)
        recorder.record("customers", parameter)
        _next_second()

    live, expected, switches = original, {}, 0
    switch_to(original)
    for entry in steps:
        if entry[0] == "switch":
            switches += 1
            if switches == 1:  # the cutover: the restored table starts with the live content
                for item in items(resource, original).values():
                    resource.Table(restored).put_item(Item=item)  # streamed before it is live
            live = restored if live == original else original  # cutover, then rollback
            switch_to(live)
            continue
        kind, (op, key, value) = entry
        table = live if kind == "live" else (restored if live == original else original)
        item_key = {"customer_id": f"k{key}"}
        existed = "Item" in resource.Table(table).get_item(Key=item_key)
        apply(dynamodb, table, op, key, value)
        if kind == "live" and (op != "delete" or existed):  # a change the live stream records
            expected[f"k{key}"] = resource.Table(table).get_item(Key=item_key).get("Item")
    records = {name: reader.read() for name, reader in readers.items()}
    with s3_faults(lambda call: faults[call - 1] if call <= len(faults) else None):
        for shard in records.values():  # each table's stream is its own shard
            cdc.deliver(shard, batch_size, max_attempts=len(shard) + len(faults) + 5)

    start, end = window()
    request = ReplayRequest(table="customers", start=start, end=end, target=target, workers=2)
    replay(request, cdc.store(), dynamodb, {"customers": "customers"}, sleep=lambda s: None)
    assert items(resource, target) == {k: v for k, v in expected.items() if v is not None}
    archived = sorted(int(c.sequence_number) for _, c in cdc.archived())
    delivered = sorted(int(r["dynamodb"]["SequenceNumber"]) for shard in records.values() for r in shard)
    assert archived == delivered  # every change of both tables archived exactly once
    assert all(c.approximate_creation.microsecond == 0 for _, c in cdc.archived())  # AWS-like stamps
