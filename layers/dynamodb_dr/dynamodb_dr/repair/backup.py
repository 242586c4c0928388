"""The on-demand backup a repair takes before its first write, recorded as the tool's own.

The backup is named after the repair (`ddbdr-<table>-repair-<id>`) and written into the backup
ledger like a scheduled one (so retention keeps and prunes it with the tool's others, and never
touches anyone else's). CreateBackup is not idempotent: it is sent once per attempt without SDK
retries, and after an unclear failure the repair's own name is looked up before it is sent again.

AWS guarantees a backup holds every write committed up to a minute before its request and none
committed more than a minute after it: the state machine waits `backup_settle_seconds` after the
backup before the repair writes, so the backup holds the table as it was before the repair.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.dynamo import BackupSummary, DynamoControl
from dynamodb_dr.core.errors import DynamoDbDrError, RepairApplyFailed, TransientAwsError
from dynamodb_dr.repair.models import PlanHeader
from dynamodb_dr.repair.store import RepairStore

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

NAME_PREFIX = "ddbdr-"
CREATE_ATTEMPTS = 4
ADOPTION_WINDOW = timedelta(minutes=5)


def backup_name(table: str, repair_id: str) -> str:
    return f"{NAME_PREFIX}{table}-repair-{repair_id}"[:255]


def take_backup(
    header: PlanHeader,
    *,
    dynamo: DynamoControl,
    ledger: DynamoDBClient,
    state_table: str,
    store: RepairStore,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The repair's backup (created once, whatever the retries) and its ledger entry."""
    recorded = store.record(header, "backup")
    if recorded and recorded.get("arn"):
        return recorded
    name = backup_name(header.table, header.repair_id)
    backup = _ours(dynamo, header.live_table, name, header.created_at) or _create(dynamo, header, name, sleep)
    tick = record_in_ledger(ledger, state_table, header, backup, now)
    record = {
        "name": backup.name,
        "arn": backup.arn,
        "table": header.live_table,
        "requested_at": backup.created.astimezone(UTC).isoformat(),
        "ledger_tick": tick,
    }
    store.save_record(header, "backup", record)
    return record


def _ours(dynamo: DynamoControl, table: str, name: str, planned: datetime) -> BackupSummary | None:
    """A backup under this repair's name made after its plan: an earlier attempt's."""
    for backup in dynamo.list_user_backups(table):
        if backup.name == name and backup.created >= planned - ADOPTION_WINDOW:
            return backup
    return None


def _create(
    dynamo: DynamoControl, header: PlanHeader, name: str, sleep: Callable[[float], None]
) -> BackupSummary:
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return dynamo.create_backup(header.live_table, name)
        except TransientAwsError:
            found = _ours(dynamo, header.live_table, name, header.created_at)
            if found:
                return found
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            sleep(min(2.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


def record_in_ledger(
    client: DynamoDBClient, state_table: str, header: PlanHeader, backup: BackupSummary, now: datetime
) -> str:
    """Write the backup into the ledger as CREATED under a tick of its own (the plan's second;
    scheduled ticks fall on whole minutes, so a second past the minute never takes theirs).
    Idempotent: the same backup at the same tick is a no-op."""
    second = header.created_at.astimezone(UTC).replace(microsecond=0)
    for _ in range(120):
        if second.second == 0:
            second += timedelta(seconds=1)
        tick = second.strftime("%Y%m%dT%H%M%SZ")
        try:
            with aws_errors(table=header.table):
                client.put_item(
                    TableName=state_table,
                    Item={
                        "pk": {"S": f"BACKUP#{header.table}"},
                        "sk": {"S": tick},
                        "status": {"S": "CREATED"},
                        "backup_name": {"S": backup.name},
                        "backup_arn": {"S": backup.arn},
                        "physical_table": {"S": header.live_table},
                        "claimed_at": {"S": now.isoformat()},
                        "first_claimed_at": {"S": now.isoformat()},
                        "origin": {"S": "repair"},
                        "repair_id": {"S": header.repair_id},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR backup_arn = :arn",
                    ExpressionAttributeValues={":arn": {"S": backup.arn}},
                )
            return tick
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) != "ConditionalCheckFailedException":
                raise
            second += timedelta(seconds=1)
    raise RepairApplyFailed(
        f"no free backup-ledger tick near {header.created_at.isoformat()}", table=header.table
    )


def backup_status(client: DynamoDBClient, arn: str) -> str:
    with aws_errors():
        return str(
            client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
        )
