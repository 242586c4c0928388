"""`dynamodb-dr erase`: an erased key stays erased through restore, replay, carry-over, item
restore and rebuild from S3, and its history leaves the CDC archive where Object Lock allows."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdc_support import Cdc, create_target, items
from export_support import at, exported_history
from restore_support import archiving_stack, mark, run, scan

from dynamodb_dr.cdc.erasure import Erasure, ErasureStore, apply_erasures
from dynamodb_dr.cdc.model import key_id_of, read_object
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader, monotonic_stream_sequences

pytestmark = pytest.mark.integration


def erase(key: dict[str, Any], *extra: str) -> int:
    return main(["erase", "--table", "customers", "--key", json.dumps(key), *extra])


def archived_keys(emu: Emulator, bucket: str) -> list[str]:
    """key ids of every change in every version of every CDC object."""
    s3 = emu.clients.client("s3")
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="cdc/"):
        for version in page.get("Versions", []):
            if not version["Key"].endswith(".jsonl.gz"):
                continue
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
            found += [c.key_id for c in read_object(body.read(), version["Key"])]
    return found


def test_restore_and_catch_up_keep_an_erased_key_erased(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = archiving_stack(emu, count=0)
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    table = emu.clients.session_resource("dynamodb").Table("customers")
    with monotonic_stream_sequences():
        for n in range(6):
            table.put_item(Item={"customer_id": f"c-{n}", "email": f"c{n}@example.com"})
        point = mark()
        table.update_item(  # after the restore point: replayed by the catch-up
            Key={"customer_id": "c-1"},
            UpdateExpression="SET email = :e",
            ExpressionAttributeValues={":e": "c1-new@example.com"},
        )
        table.delete_item(Key={"customer_id": "c-1"})  # the application erases c-1 ...
        table.update_item(  # ... and c-2 changes again before its erasure: the archive holds it
            Key={"customer_id": "c-2"},
            UpdateExpression="SET email = :e",
            ExpressionAttributeValues={":e": "c2-new@example.com"},
        )
    time.sleep(1.1)  # stream times are whole seconds: the erasures come after every change above
    assert erase({"customer_id": "c-1"}, "--reason", "request 17") == 0
    assert erase({"customer_id": "c-2"}, "--keep-history") == 0  # c-2 left in the live table
    capsys.readouterr()

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers", "target": "customers-dr-erased"}],
            "restore_time": point.isoformat(),
            "catch_up": True,
            "cutover": "none",
        },
        "erasure",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    restored = {i["customer_id"]["S"] for i in scan(emu, "customers-dr-erased")}
    assert restored == {"c-0", "c-3", "c-4", "c-5"}  # neither the restore nor the catch-up brought them back
    report = json.loads(result["output"])
    assert report["erasure"]["tables"][0]["listed"] == 2
    assert report["erasure"]["tables"][0]["deleted"] == 2


def test_replay_turns_changes_made_before_the_erasure_into_deletes_and_keeps_later_ones(
    emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    bucket = stack.outputs["ArchiveBucketName"]
    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    cdc = Cdc(emulator, stack, bucket, reader)
    resource = emulator.clients.session_resource("dynamodb")
    table = resource.Table("customers")
    start = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(4):
        table.put_item(Item={"customer_id": f"r-{n}", "email": f"r{n}@example.com"})
    cdc.deliver(cdc.reader.read(), batch_size=10)
    time.sleep(1.1)
    assert erase({"customer_id": "r-1"}, "--keep-history") == 0
    assert erase({"customer_id": "r-2"}, "--keep-history") == 0
    time.sleep(1.1)
    table.put_item(Item={"customer_id": "r-2", "email": "came-back@example.com"})  # a new item, later
    cdc.deliver(cdc.reader.read(), batch_size=10)
    create_target(emulator.clients.client("dynamodb"), "customers-copy")
    resource.Table("customers-copy").put_item(Item={"customer_id": "r-1", "email": "stale@example.com"})

    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    args = ["--table", "customers", "--from", start.isoformat(), "--to", end, "--target", "customers-copy"]
    assert main(["replay", *args, "--json"]) == 0

    copied = items(resource, "customers-copy")
    assert "r-1" not in copied  # its archived put predates the erasure: deleted, not written
    assert copied["r-2"]["email"] == "came-back@example.com"
    assert set(copied) == {"r-0", "r-2", "r-3"}


def test_item_restore_refuses_a_state_from_before_the_erasure(
    emulator: Emulator,
    stack: DeployedStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    cdc = Cdc(emulator, stack, stack.outputs["ArchiveBucketName"], reader)
    table = emulator.clients.session_resource("dynamodb").Table("customers")
    table.put_item(Item={"customer_id": "i-1", "email": "i1@example.com"})
    time.sleep(1.1)
    good = datetime.now(UTC)
    time.sleep(1.1)
    table.delete_item(Key={"customer_id": "i-1"})
    cdc.deliver(cdc.reader.read(), batch_size=10)
    assert erase({"customer_id": "i-1"}, "--keep-history") == 0
    capsys.readouterr()
    code = main(
        [
            "item",
            "restore",
            "--table",
            "customers",
            "--key",
            '{"customer_id": "i-1"}',
            "--at",
            good.isoformat(),
            "--force",  # into the live table: the erasure is what refuses
        ]
    )
    assert code != 0
    assert "KeyErased" in capsys.readouterr().err
    assert "Item" not in emulator.clients.client("dynamodb").get_item(
        TableName="customers", Key={"customer_id": {"S": "i-1"}}
    )


@pytest.mark.parametrize("lock", ["", "GOVERNANCE", "COMPLIANCE"])
def test_erase_removes_the_keys_history_from_the_archive_where_object_lock_allows(
    emu: Emulator, lock: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"ArchiveObjectLockMode": lock, "ArchiveObjectLockDays": "1"} if lock else {}
    stack = archiving_stack(emu, count=0, parameters=params)
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    bucket = stack.outputs["ArchiveBucketName"]
    table = emu.clients.session_resource("dynamodb").Table("customers")
    with monotonic_stream_sequences():
        for n in range(5):
            table.put_item(Item={"customer_id": f"p-{n}", "email": f"p{n}@example.com"})
        table.delete_item(Key={"customer_id": "p-2"})
    victim = key_id_of({"customer_id": {"S": "p-2"}})
    assert victim in archived_keys(emu, bucket)
    before = [k for k in archived_keys(emu, bucket) if k != victim]

    assert erase({"customer_id": "p-2"}, "--json") == 0
    report = json.loads(capsys.readouterr().out)["archive"]

    current = ErasureStore(emu.clients.client("s3"), bucket)
    assert [e.key_id for e in current.entries("customers")] == [victim]  # recorded in every mode
    assert report["changes_removed"] == 2
    s3 = emu.clients.client("s3")
    latest = [
        c.key_id
        for key in (o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="cdc/").get("Contents", []))
        if key.endswith(".jsonl.gz")
        for c in read_object(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key)
    ]
    assert victim not in latest  # what replay and restores read no longer holds it
    assert sorted(set(latest)) == sorted(set(before))  # nobody else's history was touched
    if lock:  # the old versions stay until their retention ends
        assert report["versions_locked"] >= 1 and report["versions_deleted"] == 0
        assert report["locked_until"]
        assert victim in archived_keys(emu, bucket)
    else:
        assert report["versions_locked"] == 0 and report["versions_deleted"] >= 1
        assert victim not in archived_keys(emu, bucket)
    if lock == "GOVERNANCE":  # the operator may bypass GOVERNANCE mode (never COMPLIANCE)
        assert erase({"customer_id": "p-2"}, "--bypass-governance", "--json") == 0
        assert victim not in archived_keys(emu, bucket)


def test_erase_refuses_a_key_that_does_not_match_the_table(
    emulator: Emulator,
    stack: DeployedStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    assert erase({"id": "x"}) == 2
    assert "customer_id" in capsys.readouterr().err
    assert main(["erase", "--table", "orders", "--key", '{"id": "x"}']) == 2
    bucket = stack.outputs["ArchiveBucketName"]
    listed = emulator.clients.client("s3").list_objects_v2(Bucket=bucket, Prefix="erasures/")
    assert listed.get("KeyCount", 0) == 0  # nothing recorded


def test_apply_erasures_deletes_only_keys_erased_after_the_data(emulator: Emulator) -> None:
    dynamodb = emulator.clients.client("dynamodb")
    create_customers_table(dynamodb, "customers-dr-x")
    for n in range(3):
        dynamodb.put_item(TableName="customers-dr-x", Item={"customer_id": {"S": f"a-{n}"}})
    now = datetime.now(UTC)
    erasures = [
        Erasure(table="customers", key={"customer_id": {"S": "a-0"}}, erased_at=now),
        Erasure(table="customers", key={"customer_id": {"S": "a-1"}}, erased_at=now - timedelta(days=2)),
    ]
    report = apply_erasures(dynamodb, "customers-dr-x", erasures, as_of=now - timedelta(days=1))
    assert report.deleted == 1
    left = {i["customer_id"]["S"] for i in dynamodb.scan(TableName="customers-dr-x")["Items"]}
    assert left == {"a-1", "a-2"}  # a-1 was erased before the data's time: an item there now is new


def test_a_rebuild_from_s3_leaves_out_keys_erased_after_its_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with exported_history(monkeypatch) as sim:
        state = sim.snapshots[at(6)]
        victim = sorted(state)[0]
        assert erase({"customer_id": victim}) == 0
        args = ["restore-from-s3", "--table", "customers", "--target", "customers-s3-erased"]
        code = main(
            [*args, "--bucket", sim.bucket, "--at", at(6).isoformat(), "--poll-seconds", "0.01", "--no-cdc"]
        )
        assert code == 0, capsys.readouterr().err
        rebuilt = sim.scan("customers-s3-erased")
        assert victim not in rebuilt
        assert set(rebuilt) == set(state) - {victim}
