"""The scheduled backup function, invoked through the emulated Lambda API against real tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest
from conftest import invoke, load_event, tag_as_restore_of

from dynamodb_dr.core import paths
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration
DAY0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def tick(day: int = 0, **extra: Any) -> dict[str, Any]:
    when = DAY0 + timedelta(days=day)
    return {"task": "backup", "scheduled_time": when.isoformat().replace("+00:00", "Z"), **extra}


def run(emulator: Emulator, stack: DeployedStack, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    return invoke(emulator, stack.physical("BackupFunction"), event)


def backups(emulator: Emulator, table: str = "customers") -> dict[str, str]:
    listed = emulator.clients.client("dynamodb").list_backups(TableName=table)["BackupSummaries"]
    return {b["BackupName"]: b["BackupArn"] for b in listed if b["TableName"] == table}


def pitr_enabled(emulator: Emulator, table: str = "customers") -> bool:
    desc = emulator.clients.client("dynamodb").describe_continuous_backups(TableName=table)
    return (
        desc["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        == "ENABLED"
    )


def set_policy(emulator: Emulator, stack: DeployedStack, document: str) -> None:
    emulator.clients.client("ssm").put_parameter(
        Name=stack.physical("PolicyParameter"), Value=document, Type="String", Overwrite=True
    )


def test_sample_event_takes_a_named_backup_and_repairs_pitr(emulator, stack):
    assert not pitr_enabled(emulator)
    payload, errored = run(emulator, stack, load_event("scheduler-backup.json"))
    assert not errored, payload
    (result,) = payload["tables"]
    assert result["pitr"] == "repaired"
    assert result["backup"] == "created"
    assert pitr_enabled(emulator)
    assert list(backups(emulator)) == ["ddbdr-customers-20261126T030000Z"]
    recovery = emulator.clients.client("dynamodb").describe_continuous_backups(TableName="customers")
    assert recovery["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ] == ("ENABLED")


def test_pitr_left_off_and_reported_when_enforcement_is_off(emulator, stack):
    set_policy(emulator, stack, json.dumps({"tables": {"customers": {"enforce_pitr": False}}}))
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["pitr"] == "disabled"
    assert not pitr_enabled(emulator)
    logs = emulator.router.invocations[-1].logs
    emf = [json.loads(line) for line in logs.splitlines() if '"_aws"' in line and '"Table"' in line]
    assert emf and emf[0]["PitrDisabled"] == [1.0] and emf[0]["Table"] == "customers"


def test_a_retried_tick_does_not_create_a_second_backup(emulator, stack):
    first, _ = run(emulator, stack, tick(attempt="1"))
    second, errored = run(emulator, stack, tick(attempt="2"))
    assert not errored
    assert first["tables"][0]["backup"] == "created"
    assert second["tables"][0]["backup"] == "exists"
    assert len(backups(emulator)) == 1


def test_a_concurrent_invocation_holding_the_claim_is_not_duplicated(emulator, stack):
    ddb = emulator.clients.client("dynamodb")
    ddb.put_item(
        TableName=stack.physical("StateTable"),
        Item={
            "pk": {"S": "BACKUP#customers"},
            "sk": {"S": "20261101T030000Z"},
            "status": {"S": "CLAIMED"},
            "backup_name": {"S": "ddbdr-customers-20261101T030000Z"},
            "physical_table": {"S": "customers"},
            "claimed_at": {"S": datetime.now(UTC).isoformat()},
        },
    )
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["backup"] == "in-progress"
    assert backups(emulator) == {}


def test_a_backup_left_by_a_crashed_attempt_is_adopted_not_duplicated(emulator, stack):
    # An attempt claimed the tick 20 minutes ago (its lease has expired), created the backup and
    # died before recording it.
    claimed = datetime.now(UTC) - timedelta(minutes=20)
    emulator.clients.client("dynamodb").put_item(
        TableName=stack.physical("StateTable"),
        Item={
            "pk": {"S": "BACKUP#customers"},
            "sk": {"S": "20261101T030000Z"},
            "status": {"S": "CLAIMED"},
            "backup_name": {"S": "ddbdr-customers-20261101T030000Z"},
            "physical_table": {"S": "customers"},
            "claimed_at": {"S": claimed.isoformat()},
            "first_claimed_at": {"S": claimed.isoformat()},
        },
    )
    emulator.clients.client("dynamodb").create_backup(
        TableName="customers", BackupName="ddbdr-customers-20261101T030000Z"
    )
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["backup"] == "exists"
    assert len(backups(emulator)) == 1


def test_a_persons_backup_with_the_ticks_exact_name_is_not_adopted(emulator, stack):
    by_hand = emulator.clients.client("dynamodb").create_backup(
        TableName="customers", BackupName="ddbdr-customers-20261101T030000Z"
    )["BackupDetails"]["BackupArn"]
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["backup"] == "created"
    listed = emulator.clients.client("dynamodb").list_backups(TableName="customers")["BackupSummaries"]
    assert len(listed) == 2 and by_hand in {b["BackupArn"] for b in listed}
    ledger = emulator.clients.client("dynamodb").get_item(
        TableName=stack.physical("StateTable"),
        Key={"pk": {"S": "BACKUP#customers"}, "sk": {"S": "20261101T030000Z"}},
    )["Item"]
    assert ledger["backup_arn"]["S"] != by_hand


def test_retention_prunes_only_old_tool_backups_and_keeps_the_newest(emulator, stack):
    set_policy(
        emulator,
        stack,
        json.dumps({"tables": {"customers": {"backup_retention_days": 3, "min_backups_kept": 2}}}),
    )
    ddb = emulator.clients.client("dynamodb")
    by_hand = ddb.create_backup(TableName="customers", BackupName="before-migration")["BackupDetails"][
        "BackupArn"
    ]
    lookalike = ddb.create_backup(TableName="customers", BackupName="ddbdr-customers-20250101T030000Z")
    for day in range(8):
        payload, errored = run(emulator, stack, tick(day))
        assert not errored, payload
    remaining = backups(emulator)
    # Days 4..7 are within 3 days of day 7 (inclusive of the cutoff); older ones were pruned.
    ours = sorted(name for name in remaining if name.startswith("ddbdr-customers-202611"))
    assert ours == [f"ddbdr-customers-202611{d:02d}T030000Z" for d in (5, 6, 7, 8)]
    assert remaining["before-migration"] == by_hand
    assert remaining["ddbdr-customers-20250101T030000Z"] == lookalike["BackupDetails"]["BackupArn"]


def test_min_backups_kept_wins_over_retention(emulator, stack):
    set_policy(
        emulator,
        stack,
        json.dumps({"tables": {"customers": {"backup_retention_days": 1, "min_backups_kept": 3}}}),
    )
    for day in (0, 10, 20, 30):
        run(emulator, stack, tick(day))
    ours = sorted(backups(emulator))
    assert ours == [
        "ddbdr-customers-20261111T030000Z",
        "ddbdr-customers-20261121T030000Z",
        "ddbdr-customers-20261201T030000Z",
    ]


def test_backups_follow_the_live_table_pointer(emulator, stack):
    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "customers-dr-20261101")
    tag_as_restore_of(emulator, "customers-dr-20261101", "customers")
    emulator.clients.client("ssm").put_parameter(
        Name=paths.live_table_parameter(paths.stack_prefix("dynamodb-dr"), "customers"),
        Value="customers-dr-20261101",
        Type="String",
    )
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["live_table"] == "customers-dr-20261101"
    assert list(backups(emulator, "customers-dr-20261101")) == ["ddbdr-customers-20261101T030000Z"]
    assert backups(emulator) == {}


def test_a_missing_table_fails_the_run_but_not_the_other_tables(emulator, customers):
    stack = emulator.deploy(parameters={"ProtectedTables": "orders,customers"})
    payload, errored = run(emulator, stack, tick())
    assert errored
    assert payload["errorType"] == "BackupRunFailed"
    assert "orders" in payload["errorMessage"]
    assert list(backups(emulator)) == ["ddbdr-customers-20261101T030000Z"]
    logs = emulator.router.invocations[-1].logs
    failure = next(json.loads(x) for x in logs.splitlines() if '"table failed"' in x)
    assert failure["result"]["errors"][0].startswith("TableNotFound")


def test_a_malformed_policy_still_backs_up_but_never_prunes(emulator, stack):
    for day in range(3):
        run(emulator, stack, tick(day))
    set_policy(emulator, stack, "{this is not json")
    payload, errored = run(emulator, stack, tick(60))
    assert errored and payload["errorType"] == "BackupRunFailed"
    assert len(backups(emulator)) == 4  # the new one taken, none of the old ones pruned
    logs = emulator.router.invocations[-1].logs
    assert "PolicyError" in logs


def test_a_malformed_event_is_a_named_error_and_changes_nothing(emulator, stack):
    payload, errored = run(emulator, stack, {"task": "backup", "scheduled_time": "not-a-time"})
    assert errored and payload["errorType"] == "ValidationError"
    assert backups(emulator) == {}
    assert not pitr_enabled(emulator)


def test_an_unprotected_table_in_the_tick_is_refused(emulator, stack):
    payload, errored = run(emulator, stack, tick(tables=["payments"]))
    assert errored and payload["errorType"] == "TableNotProtected"
    assert backups(emulator) == {}


def test_backup_limit_exceeded_is_reported_per_table(emulator, customers, monkeypatch):
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    stack = emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    real_call = botocore.client.BaseClient._make_api_call

    def limited(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "CreateBackup" and params.get("TableName") == "orders":
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": "too many backups in progress"}},
                operation,
            )
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", limited)
    payload, errored = run(emulator, stack, tick())
    assert errored and "orders" in payload["errorMessage"] and "customers" not in payload["errorMessage"]
    assert list(backups(emulator)) == ["ddbdr-customers-20261101T030000Z"]
    assert backups(emulator, "orders") == {}
    # The failed claim is released: the next delivery of the tick succeeds.
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)
    payload, errored = run(emulator, stack, tick())
    assert not errored, payload
    assert list(backups(emulator, "orders")) == ["ddbdr-orders-20261101T030000Z"]
