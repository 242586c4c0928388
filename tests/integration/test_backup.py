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
# Ticks are in the past of the real clock (the run refuses future ticks and ages backups by it).
DAY0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=40)


def tick(day: int = 0, **extra: Any) -> dict[str, Any]:
    when = DAY0 + timedelta(days=day)
    return {"task": "backup", "scheduled_time": when.isoformat().replace("+00:00", "Z"), **extra}


def tick_id(day: int = 0) -> str:
    return (DAY0 + timedelta(days=day)).strftime("%Y%m%dT%H%M%SZ")


def ours(emulator: Emulator, table: str = "customers", day: int | None = None) -> list[str]:
    """The tool's backups (ddbdr-<table>-<tick>-<nonce>), of one tick when `day` is given."""
    prefix = f"ddbdr-{table}-" + (f"{tick_id(day)}-" if day is not None else "")
    return sorted(name for name in backups(emulator, table) if name.startswith(prefix))


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


def set_retention(emulator: Emulator, stack: DeployedStack, **retention: int) -> None:
    """The policy document giving `customers` these retention settings (and nothing else)."""
    set_policy(emulator, stack, json.dumps({"tables": {"customers": retention}}))


def test_sample_event_takes_a_named_backup_and_repairs_pitr(emulator, stack):
    assert not pitr_enabled(emulator)
    payload, errored = run(emulator, stack, load_event("scheduler-backup.json"))
    assert not errored, payload
    (result,) = payload["tables"]
    assert result["pitr"] == "repaired"
    assert result["backup"] == "created"
    assert pitr_enabled(emulator)
    [name] = backups(emulator)
    assert name.startswith("ddbdr-customers-20261126T030000Z-") and name == result["backup_name"]
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


def test_a_backup_left_by_a_crashed_attempt_is_adopted_not_duplicated(emulator, stack):
    # An attempt claimed the tick, recorded its request's name, created the backup and died
    # before recording it (its lease has ended).
    name = f"ddbdr-customers-{tick_id()}-0badc0de"
    arn = emulator.clients.client("dynamodb").create_backup(TableName="customers", BackupName=name)
    put_claim(emulator, stack, lease=-60, sent={name: datetime.now(UTC)})
    payload, errored = run(emulator, stack, tick())
    assert not errored, payload
    assert payload["tables"][0]["backup"] == "exists"
    assert list(backups(emulator)) == [name]
    assert ledger(emulator, stack)["backup_arn"]["S"] == arn["BackupDetails"]["BackupArn"]


def test_a_persons_backup_with_the_ticks_exact_name_is_not_adopted(emulator, stack):
    by_hand = emulator.clients.client("dynamodb").create_backup(
        TableName="customers", BackupName=f"ddbdr-customers-{tick_id()}"
    )["BackupDetails"]["BackupArn"]
    payload, errored = run(emulator, stack, tick())
    assert not errored
    assert payload["tables"][0]["backup"] == "created"
    listed = emulator.clients.client("dynamodb").list_backups(TableName="customers")["BackupSummaries"]
    assert len(listed) == 2 and by_hand in {b["BackupArn"] for b in listed}
    assert ledger(emulator, stack)["backup_arn"]["S"] != by_hand


def test_retention_prunes_only_old_tool_backups_and_keeps_the_newest(emulator, stack):
    set_retention(
        emulator, stack, backup_retention_days=3, min_backups_kept=2, monthly_backup_retention_days=0
    )
    ddb = emulator.clients.client("dynamodb")
    by_hand = ddb.create_backup(TableName="customers", BackupName="before-migration")["BackupDetails"][
        "BackupArn"
    ]
    lookalike = ddb.create_backup(TableName="customers", BackupName=f"ddbdr-customers-{tick_id(0)}-00000000")
    for day in range(33, 41):  # the last eight days up to today
        payload, errored = run(emulator, stack, tick(day))
        assert not errored, payload
    remaining = backups(emulator)
    # Ages are measured against now: only days 38..40 are less than 3 days old.
    kept = {day for day in range(33, 41) if ours(emulator, day=day)}
    assert kept == {38, 39, 40}
    assert remaining["before-migration"] == by_hand
    assert remaining[f"ddbdr-customers-{tick_id(0)}-00000000"] == lookalike["BackupDetails"]["BackupArn"]


def test_min_backups_kept_wins_over_retention(emulator, stack):
    set_retention(
        emulator, stack, backup_retention_days=1, min_backups_kept=3, monthly_backup_retention_days=0
    )
    for day in (0, 10, 20, 30):
        run(emulator, stack, tick(day))
    assert {day for day in (0, 10, 20, 30) if ours(emulator, day=day)} == {10, 20, 30}


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
    assert [n.rsplit("-", 1)[0] for n in backups(emulator, "customers-dr-20261101")] == [
        f"ddbdr-customers-{tick_id()}"
    ]
    assert backups(emulator) == {}


def test_a_missing_table_fails_the_run_but_not_the_other_tables(emulator, customers):
    stack = emulator.deploy(parameters={"ProtectedTables": "orders,customers"})
    payload, errored = run(emulator, stack, tick())
    assert errored
    assert payload["errorType"] == "BackupRunFailed"
    assert "orders" in payload["errorMessage"]
    assert len(ours(emulator, day=0)) == 1
    logs = emulator.router.invocations[-1].logs
    failure = next(json.loads(x) for x in logs.splitlines() if '"table failed"' in x)
    assert failure["result"]["errors"][0].startswith("TableNotFound")


def test_a_malformed_policy_still_backs_up_but_never_prunes(emulator, stack):
    for day in range(3):
        run(emulator, stack, tick(day))
    set_policy(emulator, stack, "{this is not json")
    payload, errored = run(emulator, stack, tick(39))
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


def put_claim(
    emulator: Emulator, stack: DeployedStack, *, lease: float, sent: dict[str, datetime] | None = None
) -> None:
    """A claim of tick 0 held by another attempt whose lease ends `lease` seconds from now."""
    now = datetime.now(UTC)
    emulator.clients.client("dynamodb").put_item(
        TableName=stack.physical("StateTable"),
        Item={
            "pk": {"S": "BACKUP#customers"},
            "sk": {"S": tick_id()},
            "status": {"S": "CLAIMED"},
            "claim_id": {"S": "someone-else"},
            "backup_name": {"S": ""},
            "physical_table": {"S": "customers"},
            "claimed_at": {"S": (now - timedelta(seconds=30)).isoformat()},
            "lease_until": {"S": (now + timedelta(seconds=lease)).isoformat()},
            "sent": {
                "M": {
                    name: {"M": {"table": {"S": "customers"}, "at": {"S": at.isoformat()}}}
                    for name, at in (sent or {}).items()
                }
            },
        },
    )


def ledger(emulator: Emulator, stack: DeployedStack, day: int = 0) -> dict[str, Any]:
    return dict(
        emulator.clients.client("dynamodb").get_item(
            TableName=stack.physical("StateTable"),
            Key={"pk": {"S": "BACKUP#customers"}, "sk": {"S": tick_id(day)}},
        )["Item"]
    )


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
    assert len(ours(emulator, day=0)) == 1
    assert backups(emulator, "orders") == {}
    # The failed claim is released: the next delivery of the tick succeeds.
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)
    payload, errored = run(emulator, stack, tick())
    assert not errored, payload
    assert len(ours(emulator, "orders", day=0)) == 1


def test_the_first_backup_of_each_month_is_kept_longer(emulator, stack):
    set_retention(
        emulator, stack, backup_retention_days=14, min_backups_kept=1, monthly_backup_retention_days=75
    )
    days = list(range(-70, 41, 7))  # weekly, from 110 days ago to today
    for day in days:
        payload, errored = run(emulator, stack, tick(day))
        assert not errored, payload
    now = datetime.now(UTC)
    when = {day: DAY0 + timedelta(days=day) for day in days}
    first_of_month = {
        min(d for d in days if when[d].strftime("%Y%m") == when[day].strftime("%Y%m")) for day in days
    }
    expected = {
        day
        for day in days
        if now - when[day] < timedelta(days=14)
        or (day in first_of_month and now - when[day] < timedelta(days=75))
    }
    kept = {day for day in days if ours(emulator, day=day)}
    assert kept == expected
    assert len(expected) > 3  # the monthly tier kept backups beyond the 14 days
    assert any(now - when[day] > timedelta(days=30) for day in kept)
