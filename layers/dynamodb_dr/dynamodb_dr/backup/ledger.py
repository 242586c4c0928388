"""The tool's own durable record of what it created, kept in the stack's state table.

Backups are claimed per (table, schedule tick) with a conditional write, so a retried or
duplicated invocation for the same tick cannot create a second backup; and only backups recorded
here are ever pruned, so a backup made by a person or by AWS Backup is never deleted.

A claim is leased until its holder's Lambda deadline: a later attempt of the tick takes over only
once the holder can no longer be running. Each CreateBackup request carries a name with a random
nonce, written to the record (`sent`) *before* the request: a backup is the tool's only when its
ARN came back from CreateBackup, or when its name is one of those request names (after a lost
response). A person's backup, whatever its name, is never recorded.

Written by hand rather than with Powertools' idempotency utility on purpose: the ledger is a
permanent record of which backups are the tool's (retention reads it for years), not an
idempotency cache whose entries expire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import BackupClaimHeld

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

CLAIMED, CREATED, FAILED, DELETED = "CLAIMED", "CREATED", "FAILED", "DELETED"
# Records written before leases existed: a claim older than this is abandoned.
LEGACY_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class SentRequest:
    """A CreateBackup request whose outcome is not known (its response may have been lost)."""

    name: str
    table: str
    sent_at: datetime


@dataclass(frozen=True)
class BackupRecord:
    logical_name: str
    tick: str
    status: str
    backup_name: str
    physical_table: str
    backup_arn: str | None
    claimed_at: datetime
    lease_until: datetime | None = None
    claim_id: str | None = None
    sent: tuple[SentRequest, ...] = field(default=())


@dataclass(frozen=True)
class Claim:
    won: bool
    existing: BackupRecord | None = None
    record: BackupRecord | None = None  # the record as this claim left it (when won)


class LostClaim(BackupClaimHeld):
    """The claim was taken over by another attempt (its lease ran out): stop writing to it."""


class BackupLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(logical_name: str, tick: str) -> dict[str, Any]:
        return {"pk": {"S": f"BACKUP#{logical_name}"}, "sk": {"S": tick}}

    def claim(
        self,
        logical_name: str,
        tick: str,
        *,
        claim_id: str,
        physical_table: str,
        now: datetime,
        lease_until: datetime,
    ) -> Claim:
        """Take the right to create this tick's backup. Loses to a completed claim, or to a claim
        whose holder may still be running (its lease has not ended)."""
        try:
            with aws_errors(table=logical_name):
                response = self._client.update_item(
                    TableName=self._table,
                    Key=self._key(logical_name, tick),
                    UpdateExpression=(
                        "SET #s = :claimed, claim_id = :id, physical_table = :table, claimed_at = :now, "
                        "lease_until = :lease, backup_name = if_not_exists(backup_name, :none), "
                        "first_claimed_at = if_not_exists(first_claimed_at, :now), "
                        "#sent = if_not_exists(#sent, :empty)"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR #s = :failed OR (#s = :claimed AND ("
                        "lease_until < :now OR (attribute_not_exists(lease_until) AND claimed_at < :stale)))"
                    ),
                    ExpressionAttributeNames={"#s": "status", "#sent": "sent"},
                    ExpressionAttributeValues={
                        ":empty": {"M": {}},
                        ":claimed": {"S": CLAIMED},
                        ":failed": {"S": FAILED},
                        ":id": {"S": claim_id},
                        ":table": {"S": physical_table},
                        ":now": {"S": _iso(now)},
                        ":lease": {"S": _iso(lease_until)},
                        ":stale": {"S": _iso(now - LEGACY_LEASE)},
                        ":none": {"S": ""},
                    },
                    ReturnValues="ALL_NEW",
                )
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ConditionalCheckFailedException":
                raise
            return Claim(won=False, existing=self.get(logical_name, tick))
        return Claim(won=True, record=_record(response["Attributes"]))

    def get(self, logical_name: str, tick: str) -> BackupRecord | None:
        with aws_errors(table=logical_name):
            item = self._client.get_item(
                TableName=self._table, Key=self._key(logical_name, tick), ConsistentRead=True
            ).get("Item")
        return _record(item) if item else None

    def _update(
        self,
        logical_name: str,
        tick: str,
        update: str,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
        claim_id: str | None = None,
    ) -> None:
        """An update of the record; with `claim_id`, only while that claim still holds it."""
        request: Any = {
            "TableName": self._table,
            "Key": self._key(logical_name, tick),
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#s": "status", **(names or {})},
            "ExpressionAttributeValues": values,
        }
        if claim_id is not None:
            request["ConditionExpression"] = "#s = :claimed AND claim_id = :id"
            values.update({":claimed": {"S": CLAIMED}, ":id": {"S": claim_id}})
        try:
            with aws_errors(table=logical_name):
                self._client.update_item(**request)
        except Exception as exc:
            if claim_id is None or error_code(exc.__cause__ or exc) != "ConditionalCheckFailedException":
                raise
            raise LostClaim(f"the claim of {logical_name} tick {tick} was taken over") from exc

    def note_sent(self, logical_name: str, tick: str, claim_id: str, request: SentRequest) -> None:
        """Record a CreateBackup request before it is sent (its response may be lost)."""
        self._update(
            logical_name,
            tick,
            "SET #sent.#n = :v",
            {":v": {"M": {"table": {"S": request.table}, "at": {"S": _iso(request.sent_at)}}}},
            names={"#sent": "sent", "#n": request.name},
            claim_id=claim_id,
        )

    def forget_sent(self, logical_name: str, tick: str, claim_id: str, name: str) -> None:
        """A request AWS refused: it made no backup, so its name must never be adopted."""
        self._update(
            logical_name, tick, "REMOVE #sent.#n", {}, names={"#sent": "sent", "#n": name}, claim_id=claim_id
        )

    def record_created(self, logical_name: str, tick: str, name: str, backup_arn: str) -> None:
        """The backup of this tick: an ARN CreateBackup returned, or a sent request's backup."""
        self._update(
            logical_name,
            tick,
            "SET #s = :created, backup_arn = :arn, backup_name = :name REMOVE #sent",
            {":created": {"S": CREATED}, ":arn": {"S": backup_arn}, ":name": {"S": name}},
            names={"#sent": "sent"},
        )

    def record_failed(self, logical_name: str, tick: str, claim_id: str, error: str) -> None:
        self._update(
            logical_name,
            tick,
            "SET #s = :failed, #e = :error",
            {":failed": {"S": FAILED}, ":error": {"S": error[:500]}},
            names={"#e": "error"},
            claim_id=claim_id,
        )

    def record_deleted(self, logical_name: str, tick: str, when: datetime) -> None:
        self._update(
            logical_name,
            tick,
            "SET #s = :deleted, deleted_at = :at",
            {":deleted": {"S": DELETED}, ":at": {"S": _iso(when)}},
        )

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
    lease = item.get("lease_until", {}).get("S")
    sent = item.get("sent", {}).get("M", {})
    return BackupRecord(
        logical_name=item["pk"]["S"].removeprefix("BACKUP#"),
        tick=item["sk"]["S"],
        status=item["status"]["S"],
        backup_name=item.get("backup_name", {}).get("S", ""),
        physical_table=item["physical_table"]["S"],
        backup_arn=item.get("backup_arn", {}).get("S"),
        claimed_at=_parse(item["claimed_at"]["S"]),
        lease_until=_parse(lease) if lease else None,
        claim_id=item.get("claim_id", {}).get("S"),
        sent=tuple(
            SentRequest(name, value["M"]["table"]["S"], _parse(value["M"]["at"]["S"]))
            for name, value in sorted(sent.items())
        ),
    )


def _iso(moment: datetime) -> str:
    """Fixed width, so the strings compare in time order inside condition expressions."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
