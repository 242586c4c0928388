"""Restore rehearsals and their measured restore times, kept in the state table.

Items: pk = `REHEARSAL#<logical>`, sk = the schedule tick (e.g. 20261201T040000Z). A rehearsal is
claimed with a conditional put, so a retried tick never starts a second restore; the follow-up
records the outcome and the measured time (the RTO history `status` shows).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, ConfigDict

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.core.state_table import put_if_absent

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

PK_PREFIX = "REHEARSAL#"
RehearsalStatus = Literal["STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
FINISHED = frozenset({"SUCCEEDED", "FAILED"})


class RehearsalRecord(DomainModel):
    model_config = ConfigDict(extra="forbid")

    logical_name: str
    tick: str
    execution_name: str
    target: str  # the scratch table this rehearsal (and only it) creates
    status: RehearsalStatus = "STARTING"
    execution_arn: str | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    measured_seconds: float | None = None  # start to end of the restore execution
    failure: str | None = None
    cleanup: str | None = None  # what happened to the scratch table: deleted / none: <reason>


class RtoHistoryStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claim(self, record: RehearsalRecord) -> RehearsalRecord | None:
        """Put the record if this tick is unclaimed; otherwise return the existing record."""
        if put_if_absent(self._client, self._table, self._item(record), label=record.logical_name):
            return None
        return self.get(record.logical_name, record.tick)

    def save(self, record: RehearsalRecord) -> None:
        with aws_errors(table=record.logical_name):
            self._client.put_item(TableName=self._table, Item=self._item(record))

    def get(self, logical: str, tick: str) -> RehearsalRecord | None:
        with aws_errors(table=logical):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"{PK_PREFIX}{logical}"}, "sk": {"S": tick}},
                ConsistentRead=True,
            ).get("Item")
        return RehearsalRecord.model_validate_json(item["record"]["S"]) if item else None

    def history(self, logical: str, limit: int = 12) -> list[RehearsalRecord]:
        """The newest `limit` rehearsals of a table, newest first."""
        with aws_errors(table=logical):
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{PK_PREFIX}{logical}"}},
                ScanIndexForward=False,
                Limit=limit,
                ConsistentRead=True,
            )
        return [RehearsalRecord.model_validate_json(i["record"]["S"]) for i in page.get("Items", [])]

    def unfinished(self, logical: str) -> list[RehearsalRecord]:
        return [r for r in self.history(logical, limit=50) if r.status not in FINISHED or r.cleanup is None]

    def _item(self, record: RehearsalRecord) -> dict[str, Any]:
        return {
            "pk": {"S": f"{PK_PREFIX}{record.logical_name}"},
            "sk": {"S": record.tick},
            "status": {"S": record.status},
            "record": {"S": record.model_dump_json()},
        }


def latest_measured(history: list[RehearsalRecord]) -> RehearsalRecord | None:
    """The newest finished rehearsal with a measured time (history is newest first)."""
    return next((r for r in history if r.status == "SUCCEEDED" and r.measured_seconds is not None), None)


def seconds_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)
