"""The CDC archiver and replay on the emulator: real stream records, real handler, emulated S3."""

from __future__ import annotations

import random

import pytest
from cdc_support import Cdc, create_target, items, s3_faults, window, workload

from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr.core.errors import ReplayRefused
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration


@pytest.fixture
def cdc(emulator: Emulator, stack: DeployedStack) -> Cdc:
    bucket = stack.outputs["ArchiveBucketName"]
    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    return Cdc(emulator, stack, bucket, reader)


def test_stream_batch_is_archived_losslessly(cdc: Cdc) -> None:
    workload(cdc.emulator.clients.session_resource("dynamodb").Table("customers"), random.Random(1), 40)
    records = cdc.reader.read()
    assert len(records) >= 35  # moto: deletes of absent items emit nothing, upserts emit two INSERTs
    payload, errored = cdc.invoke(records)
    assert not errored and payload == {"batchItemFailures": []}
    archived = cdc.archived()
    assert len({key for key, _ in archived}) == 1  # one object for the batch
    key = archived[0][0]
    assert key.startswith("cdc/table=customers/dt=") and "/hour=" in key and key.endswith(".jsonl.gz")
    by_seq = {change.sequence_number: change for _, change in archived}
    for record in records:
        change = by_seq[record["dynamodb"]["SequenceNumber"]]
        assert change.event_id == record["eventID"] and change.event_name == record["eventName"]
        assert change.keys == record["dynamodb"]["Keys"]
        assert change.new_image == record["dynamodb"].get("NewImage")
        assert change.old_image == record["dynamodb"].get("OldImage")
    logs = cdc.emulator.router.invocations[-1].logs
    assert "CdcRecordsArchived" in logs and "CdcArchiveLagSeconds" in logs
    assert "Lovelace" not in logs and "example.com" not in logs  # no attribute values in logs


def test_s3_fault_mid_batch_reports_the_first_unarchived_record(cdc: Cdc) -> None:
    cdc.set_env(CDC_MAX_RECORDS_PER_OBJECT="10")
    workload(cdc.emulator.clients.session_resource("dynamodb").Table("customers"), random.Random(2), 50)
    records = cdc.reader.read()
    with s3_faults(lambda n: "fail" if n == 3 else None) as injected:
        payload, errored = cdc.invoke(records)
    assert not errored and injected == ["fail"]
    assert payload == {"batchItemFailures": [{"itemIdentifier": records[20]["dynamodb"]["SequenceNumber"]}]}
    assert len(cdc.archived()) == 20  # objects 1 and 2; nothing after the failed one
    payload, _ = cdc.invoke(records[20:])  # Lambda resumes at the reported record
    assert payload == {"batchItemFailures": []}
    seqs = [change.sequence_number for _, change in cdc.archived()]
    assert sorted(seqs, key=int) == [r["dynamodb"]["SequenceNumber"] for r in records]


def test_lost_ack_and_a_differently_cut_retry_store_nothing_twice(cdc: Cdc) -> None:
    cdc.set_env(CDC_MAX_RECORDS_PER_OBJECT="8")
    workload(cdc.emulator.clients.session_resource("dynamodb").Table("customers"), random.Random(3), 30)
    records = cdc.reader.read()
    with s3_faults(lambda n: "lost-ack" if n == 2 else None):
        payload, _ = cdc.invoke(records[:12])  # objects 1-8 ok, 9-12 written but "failed"
    assert payload["batchItemFailures"][0]["itemIdentifier"] == records[8]["dynamodb"]["SequenceNumber"]
    assert cdc.deliver(records[8:], batch_size=10) >= 1  # a bigger retry batch: cut differently
    seqs = [change.sequence_number for _, change in cdc.archived()]
    assert len(seqs) == len(set(seqs)) == len(records)


def test_malformed_record_is_a_batch_item_failure_not_a_loss(cdc: Cdc) -> None:
    workload(cdc.emulator.clients.session_resource("dynamodb").Table("customers"), random.Random(4), 6)
    records = cdc.reader.read()
    broken = {**records[3], "dynamodb": {**records[3]["dynamodb"], "Keys": {}}}
    payload, errored = cdc.invoke([*records[:3], broken, *records[4:]])
    assert not errored
    assert payload == {"batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]}
    assert len(cdc.archived()) == 3
    assert "MalformedStreamRecord" in cdc.emulator.router.invocations[-1].logs


def test_replay_into_a_fresh_table_reproduces_the_source(cdc: Cdc) -> None:
    resource = cdc.emulator.clients.session_resource("dynamodb")
    dynamodb = cdc.emulator.clients.client("dynamodb")
    workload(resource.Table("customers"), random.Random(5), 120, keys=30)
    records = cdc.reader.read()
    with s3_faults(lambda n: "fail" if n % 4 == 0 else None) as injected:
        cdc.deliver(records, batch_size=25)
    assert injected
    create_target(dynamodb, "customers-replay")
    start, end = window()
    request = ReplayRequest(table="customers", start=start, end=end, target="customers-replay")
    report = replay(request, cdc.store(), dynamodb, {"customers": "customers"})
    source = items(resource, "customers")
    assert report.puts == len(source) and report.changes_in_window == len(records)
    assert items(resource, "customers-replay") == source
    again = replay(request, cdc.store(), dynamodb, {"customers": "customers"})  # idempotent
    assert again.keys == report.keys and items(resource, "customers-replay") == source


def test_dry_run_writes_nothing_and_live_tables_are_refused(cdc: Cdc) -> None:
    resource = cdc.emulator.clients.session_resource("dynamodb")
    dynamodb = cdc.emulator.clients.client("dynamodb")
    workload(resource.Table("customers"), random.Random(6), 20)
    cdc.deliver(cdc.reader.read(), batch_size=100)
    create_target(dynamodb, "customers-dry")
    start, end = window()
    dry = ReplayRequest(table="customers", start=start, end=end, target="customers-dry", dry_run=True)
    report = replay(dry, cdc.store(), dynamodb, {"customers": "customers"})
    assert report.keys > 0 and items(resource, "customers-dry") == {}
    with pytest.raises(ReplayRefused):
        replay(
            ReplayRequest(table="customers", start=start, end=end, target="customers"),
            cdc.store(),
            dynamodb,
            {"customers": "customers"},
        )
