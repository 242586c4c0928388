"""`dynamodb-dr replay` and `dynamodb-dr item` against the emulated stack and archive."""

from __future__ import annotations

import json
import random
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
    assert len(err) == 1 and "ReplayRefused" in err[0]
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
    good = datetime.now(UTC)
    table.update_item(
        Key=key, UpdateExpression="SET tier = :t", ExpressionAttributeValues={":t": "corrupted"}
    )
    table.delete_item(Key=key)
    cdc.deliver(cdc.reader.read(), batch_size=100)

    assert main(["item", "history", "--table", "customers", "--key", json.dumps(key)]) == 0
    versions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["eventName"] for v in versions] == ["INSERT", "MODIFY", "MODIFY", "REMOVE"]

    restore = ["item", "restore", "--table", "customers", "--key", json.dumps(key), "--at", iso(good)]
    assert main(restore) == 2  # the live table needs --force
    assert "ReplayRefused" in capsys.readouterr().err
    assert main([*restore, "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "put"
    assert table.get_item(Key=key)["Item"] == {**key, "email": "a@example.com", "tier": "pro"}
