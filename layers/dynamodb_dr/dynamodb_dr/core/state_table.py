"""Small helpers over the stack's state table (pk/sk), shared by its record stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


def put_if_absent(
    client: DynamoDBClient, table_name: str, item: dict[str, Any], *, label: str | None = None
) -> bool:
    """Put `item` only if its key is free. Returns False (writes nothing) when it is taken."""
    # Not Powertools idempotency on purpose: these records are permanent, not an expiring cache.
    try:
        with aws_errors(table=label):
            client.put_item(TableName=table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except Exception as exc:
        if error_code(exc.__cause__ or exc) != "ConditionalCheckFailedException":
            raise
        return False
    return True
