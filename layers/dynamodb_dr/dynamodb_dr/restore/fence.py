"""The old table after a cutover: fenced against application writes, and the writes it received
carried over to the restored table.

An application holding a cached pointer keeps writing to the old table, which nobody reads any
more. At cutover the old table gets a resource-based policy statement denying item writes to every
principal but the tool's roles; a rollback lifts it. The writes the old table received before the
fence (after the pointer switched, and since the pre-cutover catch-up when there was one) are then
replayed from the CDC archive into the restored table, unless the restored table changed that key
itself since the switch (it is live: its write wins), and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.cdc.archive import ArchiveStore, read_changes
from dynamodb_dr.cdc.model import Change, dedupe
from dynamodb_dr.cdc.replay import BATCH_LIMIT, BatchWriter, final_ops
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.restore.checksum import item_digest

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

FENCE_SID = "DynamoDbDrFencedAfterCutover"
WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


class Fences:
    """Adds and removes the fence statement in a table's resource-based policy, keeping any
    statement the table's owner has there."""

    def __init__(self, dynamodb: DynamoDBClient, exempt_role_arns: tuple[str, ...]) -> None:
        self._ddb, self._exempt = dynamodb, exempt_role_arns

    def _policy(self, arn: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            with aws_errors():
                found = self._ddb.get_resource_policy(ResourceArn=arn)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) in {"PolicyNotFoundException", "TableNotFound"}:
                return None, None
            raise
        return json.loads(found["Policy"]), found.get("RevisionId")

    def _arn(self, table: str) -> str:
        with aws_errors(table=table):
            return str(self._ddb.describe_table(TableName=table)["Table"]["TableArn"])

    def statement(self, arn: str) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": FENCE_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(WRITE_ACTIONS),
            "Resource": arn,
        }
        if self._exempt:
            statement["Condition"] = {"ArnNotEquals": {"aws:PrincipalArn": list(self._exempt)}}
        return statement

    def fence(self, table: str) -> str:
        arn = self._arn(table)
        policy, revision = self._policy(arn)
        document = policy or {"Version": "2012-10-17", "Statement": []}
        if any(s.get("Sid") == FENCE_SID for s in document.get("Statement", [])):
            return "already-fenced"
        document["Statement"] = [*document.get("Statement", []), self.statement(arn)]
        self._put(arn, document, revision, table)
        return "fenced"

    def lift(self, table: str) -> str:
        arn = self._arn(table)
        policy, revision = self._policy(arn)
        if not policy or not any(s.get("Sid") == FENCE_SID for s in policy.get("Statement", [])):
            return "not-fenced"
        rest = [s for s in policy["Statement"] if s.get("Sid") != FENCE_SID]
        if rest:
            self._put(arn, {**policy, "Statement": rest}, revision, table)
        else:
            with aws_errors(table=table):
                extra = {"ExpectedRevisionId": revision} if revision else {}
                self._ddb.delete_resource_policy(ResourceArn=arn, **extra)
        return "lifted"

    def _put(self, arn: str, document: dict[str, Any], revision: str | None, table: str) -> None:
        extra: dict[str, Any] = {"ExpectedRevisionId": revision} if revision else {}
        with aws_errors(table=table):
            self._ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document), **extra)


@dataclass
class CarriedOver:
    logical: str
    source: str
    target: str
    since: str
    until: str
    changes: int = 0  # archived writes to the old table in the window
    keys: int = 0
    applied: int = 0
    skipped_newer_in_target: int = 0  # keys the restored table changed itself (or that had diverged)
    not_carried_before: int = 0  # writes after the restore point left out (catch_up was off)


def carry_over(
    store: ArchiveStore,
    dynamodb: DynamoDBClient,
    *,
    logical: str,
    source: str,
    target: str,
    restore_point: datetime,
    since: datetime,
    fenced_at: datetime,
) -> CarriedOver:
    """Replay the old table's archived writes in (since, fenced_at] into the restored table.

    A key is written only while the restored table still holds what the old table held before its
    first write in the window (compared by canonical digest); otherwise the restored table changed
    that key itself, or the two had already diverged, and the key is reported, not overwritten.
    """
    # Stream times are whole seconds on AWS: the second of `since` is included (a write in it that
    # came before `since` is applied only if the restored table still holds its before-image).
    start = since.replace(microsecond=0)
    window = list(read_changes(store, logical, min(restore_point, start), fenced_at))
    old = dedupe(c for c in window if c.source_table == source and c.approximate_creation >= start)
    result = CarriedOver(logical, source, target, since.isoformat(), fenced_at.isoformat(), changes=len(old))
    result.not_carried_before = sum(
        1 for c in window if c.source_table == source and restore_point < c.approximate_creation < start
    )
    first: dict[str, Change] = {}
    for change in old:  # dedupe() sorted them per key
        first.setdefault(change.key_id, change)
    ops = final_ops(old)
    result.keys = len(ops)
    todo = [op for op in ops if _unchanged(dynamodb, target, first[op.change.key_id])]
    result.skipped_newer_in_target = len(ops) - len(todo)
    writer = BatchWriter(dynamodb, target)
    for i in range(0, len(todo), BATCH_LIMIT):
        writer.write([op.request() for op in todo[i : i + BATCH_LIMIT]])
    result.applied = len(todo)
    return result


def _unchanged(dynamodb: DynamoDBClient, target: str, first: Change) -> bool:
    """Whether `target` holds the item as it was before `first` (absent for an insert)."""
    with aws_errors(table=target):
        current = dynamodb.get_item(
            TableName=target, Key=item_from_json(first.keys), ConsistentRead=True
        ).get("Item")
    before = item_from_json(first.old_image) if first.old_image else None
    if current is None or before is None:
        return current is None and before is None
    return item_digest(dict(current)) == item_digest(before)
