"""Destructive-action guards: the tool never deletes a backup it did not create, never deletes or
overwrites a table, and the archive's Object Lock (when enabled) is honoured."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from gates import report_gate
from security_support import backups, day, deploy, invoke, scan_all, tick_event

from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector

pytestmark = pytest.mark.integration

# What the backup function may call on an application table (by TableName or backup ARN).
ALLOWED_ON_APPLICATION_TABLES = {
    "DescribeTable",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
    "CreateBackup",
    "ListBackups",
    "DescribeBackup",
    "DeleteBackup",
}


def _tick_id(n: int) -> str:
    return ScheduleTick(scheduled_time=day(n)).tick_id


HUMAN_BACKUPS = {
    "someone else's": "before-migration-by-alice",
    "named like ours": "ddbdr-customers-20261001T030000Z",  # exactly our pattern, a tick never run
    "named like one of our backups": f"ddbdr-customers-{ScheduleTick(scheduled_time=day(0)).tick_id}",
}


@pytest.mark.parametrize(
    "case",
    [
        *sorted(HUMAN_BACKUPS),
        "same name as the coming tick",
    ],
)
def test_backup_runs_never_delete_backups_a_person_made(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str, case: str
) -> None:
    dynamodb = emulator.clients.client("dynamodb")
    stack = deploy(
        emulator, customers, BackupRetentionDays="1", MinBackupsKept="1", MonthlyBackupRetentionDays="0"
    )
    name = HUMAN_BACKUPS.get(case) or f"ddbdr-{customers}-{_tick_id(0)}"
    if case == "named like one of our backups":  # made after our backup of that tick
        assert not invoke(emulator, stack.physical("BackupFunction"), tick_event(day(0)))[1]
    arn = dynamodb.create_backup(TableName=customers, BackupName=name)["BackupDetails"]["BackupArn"]
    human = {arn: name}
    deleted: list[str] = []
    for n in range(6):
        payload, errored = invoke(emulator, stack.physical("BackupFunction"), tick_event(day(n)))
        assert not errored, payload
        deleted.extend(payload["tables"][0]["deleted"])
    remaining = backups(emulator, customers)
    report_gate(
        request,
        "destructive guards: backups",
        f"{len(deleted)} of the tool's backups pruned, {len(human)} human kept",
    )
    assert deleted, "retention did prune the tool's own backups"
    assert set(human) <= set(remaining), f"a person's backup was deleted: {set(human) - set(remaining)}"


def test_backup_runs_never_delete_or_overwrite_tables(emulator: Emulator, customers: str) -> None:
    dynamodb = emulator.clients.client("dynamodb")
    items = load_customers(emulator.clients.session_resource("dynamodb").Table(customers), 50)
    create_customers_table(dynamodb, f"{customers}-dr-20261101")  # someone's earlier restore
    create_customers_table(dynamodb, "unrelated")
    stack = deploy(
        emulator, customers, BackupRetentionDays="1", MinBackupsKept="1", MonthlyBackupRetentionDays="0"
    )
    state_table = stack.physical("StateTable")
    tables_before = set(dynamodb.list_tables()["TableNames"])
    contents_before = {t: scan_all(emulator, t) for t in tables_before - {state_table}}
    with FaultInjector() as recorder:  # no rules: it only records the calls
        for n in range(4):
            assert not invoke(emulator, stack.physical("BackupFunction"), tick_event(day(n)))[1]
    assert set(dynamodb.list_tables()["TableNames"]) == tables_before
    assert {t: scan_all(emulator, t) for t in tables_before - {state_table}} == contents_before
    assert len(contents_before[customers]) == len(items)
    touched = [
        (op, params.get("TableName") or params.get("BackupArn"))
        for service, op, params in recorder.calls
        if service == "dynamodb" and params.get("TableName") != state_table and op != "ListBackups"
    ]
    assert touched, "the recorder saw the run"
    assert {op for op, _ in touched} <= ALLOWED_ON_APPLICATION_TABLES, touched
    assert all(target and "unrelated" not in target and "-dr-" not in target for _, target in touched), (
        touched
    )


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_object_lock_is_applied_and_honoured(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str, mode: str
) -> None:
    stack = deploy(emulator, customers, ArchiveObjectLockMode=mode, ArchiveObjectLockDays="3")
    s3 = emulator.clients.client("s3")
    bucket = stack.physical("ArchiveBucket")
    configuration = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert configuration["ObjectLockEnabled"] == "Enabled"
    assert configuration["Rule"]["DefaultRetention"]["Mode"] == mode
    assert configuration["Rule"]["DefaultRetention"]["Days"] == 3
    version = s3.put_object(Bucket=bucket, Key="cdc/customers/part-0001.json.gz", Body=b"archived")[
        "VersionId"
    ]
    head = s3.head_object(Bucket=bucket, Key="cdc/customers/part-0001.json.gz", VersionId=version)
    assert head["ObjectLockMode"] == mode
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=bucket, Key="cdc/customers/part-0001.json.gz", VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    if mode == "COMPLIANCE":
        with pytest.raises(ClientError):
            s3.delete_object(
                Bucket=bucket,
                Key="cdc/customers/part-0001.json.gz",
                VersionId=version,
                BypassGovernanceRetention=True,
            )
    # A plain delete only adds a delete marker: the locked version stays readable.
    s3.delete_object(Bucket=bucket, Key="cdc/customers/part-0001.json.gz")
    assert (
        s3.head_object(Bucket=bucket, Key="cdc/customers/part-0001.json.gz", VersionId=version)[
            "ContentLength"
        ]
        == 8
    )
    report_gate(
        request, f"object lock {mode}", "default retention applied; locked version survived delete attempts"
    )


def test_without_object_lock_the_archive_is_still_versioned(emulator: Emulator, customers: str) -> None:
    stack = deploy(emulator, customers)
    s3 = emulator.clients.client("s3")
    bucket = stack.physical("ArchiveBucket")
    with pytest.raises(ClientError):
        s3.get_object_lock_configuration(Bucket=bucket)
    version = s3.put_object(Bucket=bucket, Key="exports/x", Body=b"v1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="exports/x", Body=b"v2")
    s3.delete_object(Bucket=bucket, Key="exports/x")
    assert s3.get_object(Bucket=bucket, Key="exports/x", VersionId=version)["Body"].read() == b"v1"
