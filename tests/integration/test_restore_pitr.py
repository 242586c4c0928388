"""The emulator's point-in-time history (emulator/pitr.py): a restore returns the table as it was."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest
from restore_support import mark

from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

pytestmark = pytest.mark.integration


def _table(emu: Emulator, name: str = "tbl", range_key: bool = False) -> None:
    ddb = emu.clients.client("dynamodb")
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )
    ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 3},
    )


def _items(emu: Emulator, table: str) -> list[dict[str, Any]]:
    return sorted(emu.clients.client("dynamodb").scan(TableName=table)["Items"], key=str)


def test_restore_returns_the_table_as_it_was(emu: Emulator) -> None:
    _table(emu)
    ddb = emu.clients.client("dynamodb")
    ddb.put_item(TableName="tbl", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName="tbl", Item={"pk": {"S": "b"}, "v": {"N": "1"}})
    first = mark()
    ddb.put_item(TableName="tbl", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    ddb.update_item(
        TableName="tbl",
        Key={"pk": {"S": "c"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "3"}},
    )
    ddb.delete_item(TableName="tbl", Key={"pk": {"S": "b"}})
    second = mark()
    ddb.update_item(
        TableName="tbl",
        Key={"pk": {"S": "c"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "4"}},
    )

    ddb.restore_table_to_point_in_time(SourceTableName="tbl", TargetTableName="tbl-1", RestoreDateTime=first)
    ddb.restore_table_to_point_in_time(SourceTableName="tbl", TargetTableName="tbl-2", RestoreDateTime=second)
    ddb.restore_table_to_point_in_time(
        SourceTableName="tbl", TargetTableName="tbl-3", UseLatestRestorableTime=True
    )

    assert _items(emu, "tbl-1") == [{"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "b"}, "v": {"N": "1"}}]
    assert _items(emu, "tbl-2") == [{"pk": {"S": "a"}, "v": {"N": "2"}}, {"pk": {"S": "c"}, "v": {"N": "3"}}]
    assert _items(emu, "tbl-3") == _items(emu, "tbl")
    summary = ddb.describe_table(TableName="tbl-1")["Table"]["RestoreSummary"]
    assert abs(summary["RestoreDateTime"].timestamp() - first.timestamp()) < 0.01


def test_range_keys_and_batch_writes_have_history(emu: Emulator) -> None:
    _table(emu, range_key=True)
    ddb = emu.clients.client("dynamodb")
    put = [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": str(i)}}}} for i in range(5)]
    ddb.batch_write_item(RequestItems={"tbl": put})
    point = mark()
    ddb.batch_write_item(
        RequestItems={
            "tbl": [
                {"DeleteRequest": {"Key": {"pk": {"S": "a"}, "sk": {"N": "0"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "9"}}}},
            ]
        }
    )
    ddb.restore_table_to_point_in_time(SourceTableName="tbl", TargetTableName="tbl-1", RestoreDateTime=point)
    assert sorted(int(i["sk"]["N"]) for i in _items(emu, "tbl-1")) == [0, 1, 2, 3, 4]


def test_restorable_window_moves_and_is_enforced(emu: Emulator) -> None:
    _table(emu)
    ddb = emu.clients.client("dynamodb")
    before = ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    time.sleep(0.05)
    after = ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    assert after["EarliestRestorableDateTime"] == before["EarliestRestorableDateTime"]
    assert after["LatestRestorableDateTime"] > before["LatestRestorableDateTime"]
    CONTROL.latest_lag_seconds = 300
    lagged = ddb.describe_continuous_backups(TableName="tbl")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    assert lagged["LatestRestorableDateTime"] == lagged["EarliestRestorableDateTime"]  # not yet 5 min old
    CONTROL.latest_lag_seconds = 0
    too_early = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidRestoreTimeException"):
        ddb.restore_table_to_point_in_time(
            SourceTableName="tbl", TargetTableName="tbl-1", RestoreDateTime=too_early
        )
    ddb.update_continuous_backups(
        TableName="tbl", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    with pytest.raises(botocore.exceptions.ClientError, match="PointInTimeRecoveryUnavailable"):
        ddb.restore_table_to_point_in_time(
            SourceTableName="tbl", TargetTableName="tbl-1", UseLatestRestorableTime=True
        )


def test_overrides_and_slow_restores(emu: Emulator) -> None:
    _table(emu)
    ddb = emu.clients.client("dynamodb")
    CONTROL.creating_describes = 2
    ddb.restore_table_to_point_in_time(
        SourceTableName="tbl",
        TargetTableName="tbl-1",
        UseLatestRestorableTime=True,
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "arn:aws:kms:key/x"},
    )
    statuses = [ddb.describe_table(TableName="tbl-1")["Table"]["TableStatus"] for _ in range(3)]
    assert statuses == ["CREATING", "CREATING", "ACTIVE"]
    assert (
        ddb.describe_table(TableName="tbl-1")["Table"]["SSEDescription"]["KMSMasterKeyArn"]
        == "arn:aws:kms:key/x"
    )
    assert (
        ddb.describe_table(TableName="tbl-1")["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )
