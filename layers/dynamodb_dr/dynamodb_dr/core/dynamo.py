"""DynamoDB control-plane adapter: PITR, on-demand backups, table descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import ListBackupsInputPaginateTypeDef


@dataclass(frozen=True)
class PitrStatus:
    enabled: bool
    recovery_period_days: int | None
    earliest_restorable: datetime | None
    latest_restorable: datetime | None


@dataclass(frozen=True)
class BackupSummary:
    arn: str
    name: str
    table_name: str
    status: str
    created: datetime
    backup_type: str


class DynamoControl:
    def __init__(
        self, client: DynamoDBClient, *, single_attempt_client: DynamoDBClient | None = None
    ) -> None:
        """`single_attempt_client` (no SDK retries) is used for CreateBackup, which is not
        idempotent: callers decide how to retry it."""
        self._client = client
        self._create_client = single_attempt_client or client

    def describe_table(self, table: str) -> dict[str, Any]:
        with aws_errors(table=table):
            return dict(self._client.describe_table(TableName=table)["Table"])

    def pitr_status(self, table: str) -> PitrStatus:
        with aws_errors(table=table):
            description = self._client.describe_continuous_backups(TableName=table)
        pitr = description["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        return PitrStatus(
            enabled=pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
            recovery_period_days=pitr.get("RecoveryPeriodInDays"),
            earliest_restorable=pitr.get("EarliestRestorableDateTime"),
            latest_restorable=pitr.get("LatestRestorableDateTime"),
        )

    def enable_pitr(self, table: str, recovery_period_days: int) -> None:
        with aws_errors(table=table):
            self._client.update_continuous_backups(
                TableName=table,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True,
                    "RecoveryPeriodInDays": recovery_period_days,
                },
            )

    def create_backup(self, table: str, name: str) -> BackupSummary:
        with aws_errors(table=table):
            details = self._create_client.create_backup(TableName=table, BackupName=name)["BackupDetails"]
        return BackupSummary(
            arn=details["BackupArn"],
            name=details["BackupName"],
            table_name=table,
            status=details["BackupStatus"],
            created=details["BackupCreationDateTime"],
            backup_type=details.get("BackupType", "USER"),
        )

    def list_user_backups(self, table: str | None = None) -> list[BackupSummary]:
        """Every USER backup (of one table, or all), following pagination.

        Filters are also applied here because some emulators ignore them server side.
        """
        request: ListBackupsInputPaginateTypeDef = {"BackupType": "USER"}
        if table:
            request["TableName"] = table
        backups: list[BackupSummary] = []
        with aws_errors(table=table):
            for page in self._client.get_paginator("list_backups").paginate(**request):
                for item in page.get("BackupSummaries", []):
                    if item.get("BackupType", "USER") != "USER" or (table and item["TableName"] != table):
                        continue
                    backups.append(
                        BackupSummary(
                            arn=item["BackupArn"],
                            name=item["BackupName"],
                            table_name=item["TableName"],
                            status=item["BackupStatus"],
                            created=item["BackupCreationDateTime"],
                            backup_type=item.get("BackupType", "USER"),
                        )
                    )
        return backups

    def add_replica(self, table: str, region: str) -> None:
        """Add a global-table replica (version 2019.11.21) of the table in `region`."""
        with aws_errors(table=table):
            self._client.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])

    def delete_backup(self, arn: str) -> None:
        with aws_errors():
            self._client.delete_backup(BackupArn=arn)
