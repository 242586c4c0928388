"""`dynamodb-dr replay` and `dynamodb-dr item` against the emulated stack and archive."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from cdc_support import Cdc, create_target, items, workload

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration


@pytest.fixture
def cdc(emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Cdc:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)  # the CLI's stack lookup, step 2
    bucket = stack.outputs["ArchiveBucketName"]
    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    return Cdc(emulator, stack, bucket, reader)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_replay_command_copies_the_archive_and_refuses_the_live_table(
    cdc: Cdc, capsys: pytest.CaptureFixture[str]
) -> None:
    resource = cdc.emulator.clients.session_resource("dynamodb")
    workload(resource.Table("customers"), random.Random(11), 60, keys=20)
    cdc.deliver(cdc.reader.read(), batch_size=16)
    create_target(cdc.emulator.clients.client("dynamodb"), "customers-copy")
    common = [
        "--table",
        "customers",
        "--from",
        "now-1h",
        "--to",
        iso(datetime.now(UTC) + timedelta(minutes=1)),
    ]

    assert main(["replay", *common, "--target", "customers-copy", "--dry-run"]) == 0
    assert items(resource, "customers-copy") == {}
    assert main(["replay", *common, "--target", "customers-copy"]) == 0
    assert items(resource, "customers-copy") == items(resource, "customers")
    out = capsys.readouterr().out
    assert "puts" in out and "deletes" in out

    assert main(["replay", *common, "--target", "customers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ReplayRefused" in err[0] and "add --force to write into it" in err[0]
    assert main(["replay", "--table", "orders", "--from", "now-1h", "--to", "now", "--target", "x-copy"]) == 2
    assert "not protected" in capsys.readouterr().err
    assert (
        main(["replay", "--table", "customers", "--from", "now", "--to", "now-1h", "--target", "x-copy"]) == 2
    )
    assert "end is before start" in capsys.readouterr().err


def test_item_history_and_restore_to_a_point_in_time(cdc: Cdc, capsys: pytest.CaptureFixture[str]) -> None:
    table = cdc.emulator.clients.session_resource("dynamodb").Table("customers")
    key = {"customer_id": "cust-1"}
    table.put_item(Item={**key, "email": "a@example.com", "tier": "free"})
    table.update_item(Key=key, UpdateExpression="SET tier = :t", ExpressionAttributeValues={":t": "pro"})
    time.sleep(1.1)  # stream times are whole seconds: `good` lies in a second of its own
    good = datetime.now(UTC)
    time.sleep(1.1)
    table.update_item(
        Key=key, UpdateExpression="SET tier = :t", ExpressionAttributeValues={":t": "corrupted"}
    )
    table.delete_item(Key=key)
    cdc.deliver(cdc.reader.read(), batch_size=100)

    assert main(["item", "history", "--table", "customers", "--key", json.dumps(key), "--json"]) == 0
    versions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["eventName"] for v in versions] == ["INSERT", "MODIFY", "MODIFY", "REMOVE"]
    assert main(["item", "history", "--table", "customers", "--key", json.dumps(key)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:3] == ["TIME", "(UTC)", "EVENT"] and [r.split()[2] for r in rows[1:]] == [
        "INSERT",
        "MODIFY",
        "MODIFY",
        "REMOVE",
    ]

    restore = ["item", "restore", "--table", "customers", "--key", json.dumps(key), "--at", iso(good)]
    assert main(restore) == 2  # the live table needs --force
    assert "ReplayRefused" in capsys.readouterr().err
    assert main([*restore, "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "put"
    assert table.get_item(Key=key)["Item"] == {**key, "email": "a@example.com", "tier": "pro"}


def test_a_corrupt_archive_object_is_a_named_error_with_its_key_and_the_archiver_moves_on(
    cdc: Cdc, capsys: pytest.CaptureFixture[str]
) -> None:
    resource = cdc.emulator.clients.session_resource("dynamodb")
    workload(resource.Table("customers"), random.Random(12), 30, keys=10)
    records = cdc.reader.read()
    cdc.deliver(records[:10], batch_size=10)
    s3 = cdc.emulator.clients.client("s3")
    key = next(iter(cdc.store().keys("cdc/table=customers/dt=")))
    body = s3.get_object(Bucket=cdc.bucket, Key=key)["Body"].read()
    middle = len(body) // 2  # flipped bytes inside the gzip stream: zlib.error, not OSError
    s3.put_object(Bucket=cdc.bucket, Key=key, Body=body[:middle] + bytes(b ^ 0xFF for b in body[middle:]))

    cdc.deliver(records[10:], batch_size=10)  # later batches are not blocked by it
    assert cdc.deliver(records[:10], batch_size=10) == 1  # a retry of the first batch repairs it
    create_target(cdc.emulator.clients.client("dynamodb"), "customers-copy2")
    window = ["--from", "now-1h", "--to", iso(datetime.now(UTC) + timedelta(minutes=1))]
    assert main(["replay", "--table", "customers", *window, "--target", "customers-copy2"]) == 0
    assert items(resource, "customers-copy2") == items(resource, "customers")

    s3.put_object(Bucket=cdc.bucket, Key=key, Body=body[:middle] + bytes(b ^ 0xFF for b in body[middle:]))
    assert main(["replay", "--table", "customers", *window, "--target", "customers-copy2"]) == 1
    err = capsys.readouterr().err
    assert "ArchiveCorrupt" in err and key in err and "Traceback" not in err
