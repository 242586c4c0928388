"""Which execution a restored table belongs to.

Before an execution asks DynamoDB for a restore it reserves the target name in the state table
(a conditional put: one execution per name, ever). The restored table is then tagged with the
execution as soon as DynamoDB accepts tags. Clean-up (delete, tag FAILED) touches a table only
when its tags name the execution; a retried start recognises its own restore by the reservation
and the restore's source and point in time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import RestoreRequestInvalid
from dynamodb_dr.core.state_table import put_if_absent
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.tables import TAG_EXECUTION, RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


class TargetReservations:
    """Items pk `RESTORE-TARGET#<table>`, sk `OWNER`, attribute `execution`."""

    def __init__(self, dynamodb: DynamoDBClient, state_table: str) -> None:
        self._ddb, self._table = dynamodb, state_table

    @staticmethod
    def _key(target: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"RESTORE-TARGET#{target}"}, "sk": {"S": "OWNER"}}

    def owner(self, target: str) -> str | None:
        with aws_errors(table=target):
            item = self._ddb.get_item(TableName=self._table, Key=self._key(target), ConsistentRead=True).get(
                "Item"
            )
        return item["execution"]["S"] if item else None

    def reserve(self, target: str, execution: str) -> None:
        """Reserve `target` for `execution` (idempotent); refuses a name another execution holds."""
        item = {**self._key(target), "execution": {"S": execution}}
        if put_if_absent(self._ddb, self._table, item, label=target):
            return
        holder = self.owner(target)
        if holder != execution:
            raise RestoreRequestInvalid(
                f"target table {target} is reserved by restore execution {holder}: not restored again",
                table=target,
            )


def claim_untagged(tables: RestoreTables, reservations: TargetReservations, plan: Plan, target: str) -> bool:
    """A table not tagged yet (DynamoDB may refuse tags while it is CREATING) is the plan's only
    when the plan's owner reserved its name and it is a restore of the planned source to the
    planned point in time: then it gets its tag now, and only then may a step act on it."""
    planned = next((t for t in plan.tables if t.target == target), None)
    if planned is None or plan.restore_time is None:
        return False
    if reservations.owner(target) != plan.table_owner or tables.tags(target).get(TAG_EXECUTION):
        return False
    if not tables.restored_from(target, planned.source_arn, plan.restore_time):
        return False
    return tables.try_tag(target, {TAG_EXECUTION: plan.table_owner})
