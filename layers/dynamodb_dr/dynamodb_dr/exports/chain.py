"""The export chain of each table, kept in the stack's state table (pk = EXPORT#<logical>).

Items:
- `HEAD`: where the next incremental window starts (`next_from`), the chain's base FULL export,
  the exports still in flight and the last incremental started. Updated with conditional writes
  so two runs can never start two windows from the same point.
- `EXP#<window_to>#<TYPE>#<attempt>`: one export (FULL or INCREMENTAL) with its window, status,
  ARN, S3 location, item count and manifest key. Claimed with a conditional put: a retried tick
  finds its claim and never starts a second export.
- `GAP#<tick>`: a break in the chain (PITR window slid or PITR was off) and the FULL that healed it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, ConfigDict

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.core.state_table import put_if_absent

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

ExportType = Literal["FULL", "INCREMENTAL"]
ExportStatus = Literal["STARTING", "IN_PROGRESS", "COMPLETED", "FAILED"]
TERMINAL = frozenset({"COMPLETED", "FAILED"})


def compact(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class ExportRecord(DomainModel):
    """One export of one table. Also written to S3 (chain index) once it is finished."""

    model_config = ConfigDict(extra="forbid")

    logical_name: str
    export_type: ExportType
    attempt: int = 1
    tick: str
    physical_table: str
    window_from: AwareDatetime | None = None  # INCREMENTAL only
    window_to: AwareDatetime  # the export time of a FULL export
    base: bool = False  # a FULL that (re)starts the incremental chain
    status: ExportStatus = "STARTING"
    client_token: str
    s3_bucket: str
    s3_prefix: str
    export_arn: str | None = None
    item_count: int | None = None
    manifest_key: str | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    failure: str | None = None
    table_schema: dict[str, Any] | None = None  # FULL only: what a rebuild needs to create the table
    expiry_marked_at: AwareDatetime | None = None  # objects tagged for expiry (exports/expiry.py)

    @property
    def sk(self) -> str:
        return record_sk(self.window_to, self.export_type, self.attempt)


def record_sk(window_to: datetime, export_type: str, attempt: int = 1) -> str:
    return f"EXP#{compact(window_to)}#{export_type}#{attempt}"


class ChainHead(DomainModel):
    model_config = ConfigDict(extra="ignore")

    next_from: AwareDatetime | None = None
    base_sk: str | None = None
    pending_base: str | None = None
    inflight: frozenset[str] = frozenset()
    last_incr_sk: str | None = None
    last_full_tick: str | None = None
    last_full_to: AwareDatetime | None = None
    last_incr_to: AwareDatetime | None = None
    gaps: int = 0


class GapRecord(DomainModel):
    model_config = ConfigDict(extra="forbid")

    logical_name: str
    tick: str
    gap_from: AwareDatetime
    gap_to: AwareDatetime
    reason: str
    healed_by: str


class ChainConflict(Exception):
    """The head changed under us (a concurrent run): re-read and re-plan."""


class ExportChainStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _pk(logical_name: str) -> dict[str, str]:
        return {"S": f"EXPORT#{logical_name}"}

    # ------------------------------------------------------------ head
    def head(self, logical_name: str) -> ChainHead:
        item = self._get(logical_name, "HEAD")
        if not item:
            return ChainHead()
        return ChainHead.model_validate(
            {
                "next_from": _s(item, "next_from"),
                "base_sk": _s(item, "base_sk"),
                "pending_base": _s(item, "pending_base"),
                "inflight": frozenset(item.get("inflight", {}).get("SS", [])),
                "last_incr_sk": _s(item, "last_incr_sk"),
                "last_full_tick": _s(item, "last_full_tick"),
                "last_full_to": _s(item, "last_full_to"),
                "last_incr_to": _s(item, "last_incr_to"),
                "gaps": int(item.get("gaps", {}).get("N", "0")),
            }
        )

    def update_head(
        self,
        logical_name: str,
        *,
        set_: dict[str, str] | None = None,
        remove: tuple[str, ...] = (),
        add_inflight: str | None = None,
        drop_inflight: str | None = None,
        count_gap: bool = False,
        condition: str | None = None,
        condition_values: dict[str, str] | None = None,
    ) -> None:
        """One atomic head update; raises ChainConflict when `condition` does not hold."""
        names: dict[str, str] = {f"#{k}": k for k in (*(set_ or {}), *remove)}
        values: dict[str, Any] = {f":{k}": {"S": v} for k, v in (set_ or {}).items()}
        clauses: list[str] = []
        if set_:
            clauses.append("SET " + ", ".join(f"#{k} = :{k}" for k in set_))
        if remove:
            clauses.append("REMOVE " + ", ".join(f"#{k}" for k in remove))
        adds: list[str] = []
        if add_inflight:
            names["#inflight"] = "inflight"
            values[":add"] = {"SS": [add_inflight]}
            adds.append("#inflight :add")
        if count_gap:
            names["#gaps"] = "gaps"
            values[":one"] = {"N": "1"}
            adds.append("#gaps :one")
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if drop_inflight:
            names["#inflight"] = "inflight"
            values[":drop"] = {"SS": [drop_inflight]}
            clauses.append("DELETE #inflight :drop")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": self._pk(logical_name), "sk": {"S": "HEAD"}},
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
        }
        if condition:
            for token in condition.replace("(", " ").replace(")", " ").split():
                if token.startswith("#"):
                    names[token] = token[1:]
            values.update({k: {"S": v} for k, v in (condition_values or {}).items()})
            request["ConditionExpression"] = condition
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            with aws_errors(table=logical_name):
                self._client.update_item(**request)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ConditionalCheckFailedException":
                raise ChainConflict(f"export chain head of {logical_name} changed concurrently") from exc
            raise

    # ------------------------------------------------------------ export records
    def claim(self, record: ExportRecord) -> ExportRecord | None:
        """Put the record if its key is free; returns the existing record when it is not."""
        if put_if_absent(self._client, self._table, self._item(record), label=record.logical_name):
            return None
        return self.get(record.logical_name, record.sk)

    def save(self, record: ExportRecord) -> None:
        with aws_errors(table=record.logical_name):
            self._client.put_item(TableName=self._table, Item=self._item(record))

    def get(self, logical_name: str, sk: str) -> ExportRecord | None:
        item = self._get(logical_name, sk)
        return ExportRecord.model_validate_json(item["record"]["S"]) if item else None

    def records(self, logical_name: str, prefix: str = "EXP#") -> list[dict[str, Any]]:
        """Raw items of one kind (EXP# or GAP#), oldest first."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": self._pk(logical_name), ":p": {"S": prefix}},
            ConsistentRead=True,
        )
        with aws_errors(table=logical_name):
            return [dict(item) for page in pages for item in page.get("Items", [])]

    def exports(self, logical_name: str) -> list[ExportRecord]:
        return [ExportRecord.model_validate_json(i["record"]["S"]) for i in self.records(logical_name)]

    def gaps(self, logical_name: str) -> list[GapRecord]:
        return [GapRecord.model_validate_json(i["record"]["S"]) for i in self.records(logical_name, "GAP#")]

    def record_gap(self, gap: GapRecord) -> None:
        with aws_errors(table=gap.logical_name):
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": self._pk(gap.logical_name),
                    "sk": {"S": f"GAP#{gap.tick}"},
                    "record": {"S": gap.model_dump_json()},
                },
            )

    # ------------------------------------------------------------ helpers
    def _item(self, record: ExportRecord) -> dict[str, Any]:
        # Status and type are top-level attributes too, so the chain is readable in the console.
        return {
            "pk": self._pk(record.logical_name),
            "sk": {"S": record.sk},
            "export_type": {"S": record.export_type},
            "status": {"S": record.status},
            "record": {"S": record.model_dump_json()},
        }

    def _get(self, logical_name: str, sk: str) -> dict[str, Any] | None:
        with aws_errors(table=logical_name):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": self._pk(logical_name), "sk": {"S": sk}},
                ConsistentRead=True,
            ).get("Item")
        return dict(item) if item else None


def _s(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key, {}).get("S")
    return str(value) if value is not None else None
