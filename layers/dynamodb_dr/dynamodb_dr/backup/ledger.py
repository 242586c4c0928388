"""The tool's own durable record of what it created, kept in the stack's state table.

Backups are claimed per (table, schedule tick) with a conditional write, so a retried or
duplicated invocation for the same tick cannot create a second backup; and only backups recorded
here are ever pruned, so a backup made by a person or by AWS Backup is never deleted.

Written by hand rather than with Powertools' idempotency utility on purpose: the ledger is a
permanent record of which backups are the tool's (retention reads it for years), not an
idempotency cache whose entries expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

CLAIMED, CREATED, FAILED, DELETED = "CLAIMED", "CREATED", "FAILED", "DELETED"


@dataclass(frozen=True)
class BackupRecord:
    logical_name: str
    tick: str
    status: str
    backup_name: str
    physical_table: str
    backup_arn: str | None
    claimed_at: datetime


@dataclass(frozen=True)
class Claim:
    won: bool
    existing: BackupRecord | None = None
    first_claimed_at: datetime | None = None


class BackupLedger:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, lease: timedelta = timedelta(minutes=15)
    ) -> None:
        self._client = client
        self._table = table_name
        self._lease = lease

    @staticmethod
    def _key(logical_name: str, tick: str) -> dict[str, Any]:
        return {"pk": {"S": f"BACKUP#{logical_name}"}, "sk": {"S": tick}}

    def claim(
        self, logical_name: str, tick: str, backup_name: str, physical_table: str, now: datetime
    ) -> Claim:
        """Take the right to create this tick's backup. Loses to a completed or live claim.

        The first claim's time is kept across re-claims: only a backup created after it can have
        been made by an earlier attempt of this tick.
        """
        stale_before = (now - self._lease).isoformat()
        try:
            with aws_errors(table=logical_name):
                response = self._client.update_item(
                    TableName=self._table,
                    Key=self._key(logical_name, tick),
                    UpdateExpression=(
                        "SET #s = :claimed, backup_name = :name, physical_table = :table, "
                        "claimed_at = :now, first_claimed_at = if_not_exists(first_claimed_at, :now)"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR #s = :failed OR (#s = :claimed AND claimed_at < :stale)"
                    ),
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":claimed": {"S": CLAIMED},
                        ":failed": {"S": FAILED},
                        ":stale": {"S": stale_before},
                        ":name": {"S": backup_name},
                        ":table": {"S": physical_table},
                        ":now": {"S": now.isoformat()},
                    },
                    ReturnValues="ALL_NEW",
                )
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ConditionalCheckFailedException":
                raise
            return Claim(won=False, existing=self.get(logical_name, tick))
        first = _aware(datetime.fromisoformat(response["Attributes"]["first_claimed_at"]["S"]))
        return Claim(won=True, first_claimed_at=first)

    def get(self, logical_name: str, tick: str) -> BackupRecord | None:
        with aws_errors(table=logical_name):
            item = self._client.get_item(
                TableName=self._table, Key=self._key(logical_name, tick), ConsistentRead=True
            ).get("Item")
        return _record(item) if item else None

    def _set_status(self, logical_name: str, tick: str, status: str, extra: dict[str, Any]) -> None:
        names = {"#s": "status", **{f"#{k}": k for k in extra}}
        values = {":s": {"S": status}, **{f":{k}": {"S": v} for k, v in extra.items()}}
        update = "SET #s = :s" + "".join(f", #{k} = :{k}" for k in extra)
        with aws_errors(table=logical_name):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(logical_name, tick),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def record_created(self, logical_name: str, tick: str, backup_arn: str) -> None:
        self._set_status(logical_name, tick, CREATED, {"backup_arn": backup_arn})

    def record_failed(self, logical_name: str, tick: str, error: str) -> None:
        self._set_status(logical_name, tick, FAILED, {"error": error[:500]})

    def record_deleted(self, logical_name: str, tick: str, when: datetime) -> None:
        self._set_status(logical_name, tick, DELETED, {"deleted_at": when.isoformat()})

    def created_backups(self, logical_name: str) -> list[BackupRecord]:
        """This tool's live backups of one logical table, oldest first."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"BACKUP#{logical_name}"}},
            ConsistentRead=True,
        )
        records: list[BackupRecord] = []
        with aws_errors(table=logical_name):
            for page in pages:
                records.extend(_record(item) for item in page.get("Items", []))
        return [r for r in records if r.status == CREATED and r.backup_arn]


def _record(item: dict[str, Any]) -> BackupRecord:
    arn = item.get("backup_arn", {}).get("S")
    claimed = _aware(datetime.fromisoformat(item["claimed_at"]["S"]))
    return BackupRecord(
        logical_name=item["pk"]["S"].removeprefix("BACKUP#"),
        tick=item["sk"]["S"],
        status=item["status"]["S"],
        backup_name=item["backup_name"]["S"],
        physical_table=item["physical_table"]["S"],
        backup_arn=arn,
        claimed_at=claimed,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
