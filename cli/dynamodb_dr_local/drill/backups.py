"""Drill stage: the scheduled backup function run over simulated days."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dynamodb_dr_local.drill.report import Progress, table
from dynamodb_dr_local.emulator import DeployedStack, Emulator


@dataclass
class BackupDay:
    tick: str
    created: str
    deleted: list[str]
    pitr: str
    ours_listed: int
    others_listed: int


@dataclass
class BackupStageResult:
    days: list[BackupDay] = field(default_factory=list)
    manual_backup_kept: bool = False

    @property
    def ok(self) -> bool:
        return self.manual_backup_kept and all(day.created in {"created", "exists"} for day in self.days)


def run_backup_days(
    emu: Emulator,
    stack: DeployedStack,
    *,
    logical_table: str,
    first_tick: datetime,
    days: int,
    progress: Progress,
) -> BackupStageResult:
    """Fire the backup schedule once a day for `days` days (time is simulated through the tick)."""
    lambda_client = emu.clients.client("lambda")
    dynamodb = emu.clients.client("dynamodb")
    manual = dynamodb.create_backup(TableName=logical_table, BackupName="before-migration-by-alice")
    manual_arn = manual["BackupDetails"]["BackupArn"]
    result = BackupStageResult()
    for day in range(days):
        tick = first_tick + timedelta(days=day)
        payload = _invoke(lambda_client, stack.physical("BackupFunction"), tick)
        row = next(t for t in payload["tables"] if t["logical_name"] == logical_table)
        listed = dynamodb.list_backups(TableName=logical_table)["BackupSummaries"]
        ours = [b for b in listed if b["BackupName"].startswith("ddbdr-")]
        result.days.append(
            BackupDay(
                tick=tick.strftime("%Y-%m-%d %H:%M"),
                created=row["backup"],
                deleted=row["deleted"],
                pitr=row["pitr"],
                ours_listed=len(ours),
                others_listed=len(listed) - len(ours),
            )
        )
        progress.step(
            f"backup tick {tick:%Y-%m-%d}: backup {row['backup']}, "
            f"pruned {len(row['deleted'])}, PITR {row['pitr']}"
        )
    # A retried delivery of the last tick must not create a second backup.
    retry = _invoke(lambda_client, stack.physical("BackupFunction"), first_tick + timedelta(days=days - 1))
    retried = next(t for t in retry["tables"] if t["logical_name"] == logical_table)
    progress.step(f"retried the last tick: backup {retried['backup']} (idempotent)")
    remaining = {b["BackupArn"] for b in dynamodb.list_backups(TableName=logical_table)["BackupSummaries"]}
    result.manual_backup_kept = manual_arn in remaining
    return result


def _invoke(lambda_client: Any, function_name: str, tick: datetime) -> dict[str, Any]:
    event = {"task": "backup", "scheduled_time": tick.strftime("%Y-%m-%dT%H:%M:%SZ"), "attempt": "1"}
    response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event))
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise RuntimeError(
            f"backup function failed: {payload.get('errorType')}: {payload.get('errorMessage')}"
        )
    return dict(payload)


def render(result: BackupStageResult) -> str:
    rows = [
        (
            d.tick,
            d.pitr,
            d.created,
            ", ".join(x.rsplit("-", 1)[-1] for x in d.deleted) or "-",
            d.ours_listed,
            d.others_listed,
        )
        for d in result.days
    ]
    return table(("tick (UTC)", "PITR", "backup", "pruned", "tool backups", "other backups"), rows)
