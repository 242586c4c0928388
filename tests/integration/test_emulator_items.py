"""The emulator's faster item handling changes no behaviour: backups are point-in-time copies,
scans page through every item once in key order, and a stream reader can start at LATEST."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        create_customers_table(emulator.clients.client("dynamodb"), "customers")
        yield emulator


def scan(emu: Emulator, table: str, page: int | None = None) -> list[dict[str, Any]]:
    paginator = emu.clients.client("dynamodb").get_paginator("scan")
    config = {"PageSize": page} if page else {}
    return [i for p in paginator.paginate(TableName=table, PaginationConfig=config) for i in p["Items"]]


def test_a_backup_is_the_table_at_backup_time_whatever_happens_after(emu: Emulator) -> None:
    ddb = emu.clients.client("dynamodb")
    table = emu.clients.session_resource("dynamodb").Table("customers")
    loaded = load_customers(table, 30)
    at_backup = sorted(scan(emu, "customers"), key=lambda i: i["customer_id"]["S"])
    arn = ddb.create_backup(TableName="customers", BackupName="before-changes")["BackupDetails"]["BackupArn"]

    # in-place updates (moto mutates the stored item), overwrites, deletes and new items
    for item in loaded[:10]:
        table.update_item(
            Key={"customer_id": item["customer_id"]},
            UpdateExpression="SET balance = :b, tier = :t",
            ExpressionAttributeValues={":b": Decimal("0"), ":t": "changed"},
        )
    for item in loaded[10:15]:
        table.put_item(Item={**item, "name": "overwritten"})
    for item in loaded[15:20]:
        table.delete_item(Key={"customer_id": item["customer_id"]})
    table.put_item(Item={"customer_id": "new-after-backup", "email": "n@example.com"})

    ddb.restore_table_from_backup(TargetTableName="customers-from-backup", BackupArn=arn)
    restored = sorted(scan(emu, "customers-from-backup"), key=lambda i: i["customer_id"]["S"])
    assert restored == at_backup
    # and the source has its changes (the backup did not freeze it either)
    changed = table.get_item(Key={"customer_id": loaded[0]["customer_id"]})["Item"]
    assert changed["tier"] == "changed"


def test_paginated_scans_return_every_item_once_in_key_order(emu: Emulator) -> None:
    load_customers(emu.clients.session_resource("dynamodb").Table("customers"), 250)
    for page in (7, 100, None):
        keys = [i["customer_id"]["S"] for i in scan(emu, "customers", page)]
        assert len(keys) == len(set(keys)) == 250
        assert keys == sorted(keys)


def test_a_stream_reader_can_start_after_the_backlog_without_reading_it(emu: Emulator) -> None:
    table = emu.clients.session_resource("dynamodb").Table("customers")
    load_customers(table, 40)
    reader = StreamReader(emu.clients.client("dynamodb"), emu.clients.client("dynamodbstreams"), "customers")
    reader.skip_to_latest()
    assert reader.read() == []  # nothing new yet: the start position is kept
    table.put_item(Item={"customer_id": "after-1", "email": "a@example.com"})
    table.put_item(Item={"customer_id": "after-2", "email": "b@example.com"})
    records = reader.read()
    assert [r["dynamodb"]["Keys"]["customer_id"]["S"] for r in records] == ["after-1", "after-2"]
    assert reader.read() == []
    table.delete_item(Key={"customer_id": "after-1"})
    assert [r["eventName"] for r in reader.read()] == ["REMOVE"]
