"""Read-only views of the recovery sources the posture check looks at.

Each view wraps one injected boto3 client and reads state that other parts of the tool write
(backup ledger, export chain). None of them writes anything. The CDC archive's views are in
posture/cdc_sources.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.dynamo import DynamoControl

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_dynamodb import DynamoDBClient

BACKUP_PK = "BACKUP#"


@dataclass(frozen=True)
class BackupSummaryView:
    newest: datetime | None  # newest recoverable backup (any USER backup of the table, or ours)
    available: int  # AVAILABLE USER backups of the live table
    tool_backups: int  # this tool's live backups (ledger)
    last_run_failed: bool | None  # the newest ledger tick is FAILED (None: no tick yet)


class BackupView:
    """On-demand backups: the ledger (this tool's ticks) and list_backups (every USER backup)."""

    def __init__(self, dynamo: DynamoControl, client: DynamoDBClient, state_table: str) -> None:
        self._dynamo = dynamo
        self._client = client
        self._state_table = state_table

    def summary(self, logical: str, live_table: str) -> BackupSummaryView:
        ledger = self._ledger_items(logical)
        created = [i for i in ledger if i["status"]["S"] == "CREATED" and "backup_arn" in i]
        listed = [b for b in self._dynamo.list_user_backups(live_table) if b.status == "AVAILABLE"]
        points = [b.created for b in listed] + [_aware(i["claimed_at"]["S"]) for i in created]
        latest_tick = max(ledger, key=lambda i: i["sk"]["S"]) if ledger else None
        return BackupSummaryView(
            newest=max(points) if points else None,
            available=len(listed),
            tool_backups=len(created),
            last_run_failed=None if latest_tick is None else latest_tick["status"]["S"] == "FAILED",
        )

    def _ledger_items(self, logical: str) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._state_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{BACKUP_PK}{logical}"}},
        )
        with aws_errors(table=logical):
            return [dict(item) for page in pages for item in page.get("Items", [])]


@dataclass(frozen=True)
class ExportSummaryView:
    newest_point: dict[str, datetime]  # export type -> newest COMPLETED export's point in time
    failures_since_success: int  # FAILED exports newer than the newest COMPLETED one
    gaps: int  # breaks recorded in the chain
    inflight: int
    has_base: bool  # a FULL export starts the chain


class ExportView:
    """The S3 export chain (issue 4) as recorded in the state table."""

    def __init__(self, client: DynamoDBClient, state_table: str) -> None:
        self._client = client
        self._state_table = state_table

    def summary(self, logical: str) -> ExportSummaryView:
        from dynamodb_dr.exports.chain import ExportChainStore

        store = ExportChainStore(self._client, self._state_table)
        head = store.head(logical)
        records = store.exports(logical)
        newest: dict[str, datetime] = {}
        for record in records:
            if record.status == "COMPLETED":
                current = newest.get(record.export_type)
                newest[record.export_type] = max(record.window_to, current or record.window_to)
        last_ok = max(newest.values()) if newest else None
        failures = sum(
            1 for r in records if r.status == "FAILED" and (last_ok is None or r.window_to > last_ok)
        )
        return ExportSummaryView(
            newest_point=newest,
            failures_since_success=failures,
            gaps=max(head.gaps, len(store.gaps(logical))),
            inflight=len(head.inflight),
            has_base=head.base_sk is not None or "FULL" in newest,
        )


class ReplicationView:
    """`ReplicationLatency` of a global table replica (AWS/DynamoDB), average of recent minutes."""

    def __init__(self, cloudwatch: CloudWatchClient, *, window: timedelta = timedelta(minutes=15)) -> None:
        self._cloudwatch = cloudwatch
        self._window = window

    def latency_ms(self, table: str, receiving_region: str, now: datetime) -> float | None:
        with aws_errors(table=table):
            result = self._cloudwatch.get_metric_statistics(
                Namespace="AWS/DynamoDB",
                MetricName="ReplicationLatency",
                Dimensions=[
                    {"Name": "TableName", "Value": table},
                    {"Name": "ReceivingRegion", "Value": receiving_region},
                ],
                StartTime=now - self._window,
                EndTime=now,
                Period=60,
                Statistics=["Average"],
            )
        points = sorted(result.get("Datapoints", []), key=lambda p: p["Timestamp"])
        return float(points[-1]["Average"]) if points else None


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
