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
