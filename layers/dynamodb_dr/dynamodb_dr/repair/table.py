"""DynamoDB adapter for the live table a repair reads: its shape, write capacity and items."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import TransientAwsError

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

BATCH_GET_LIMIT = 100  # BatchGetItem maximum
READ_ATTEMPTS = 10
NEW_ON_DEMAND_WRITE_UNITS = 4000.0  # AWS: a new on-demand table serves 4,000 write units at once


@dataclass(frozen=True)
class TableFacts:
    name: str
    key_names: tuple[str, ...]
    ttl_attribute: str | None
    write_capacity: float  # write units per second the table (and every GSI) sustains now
    capacity_source: str
    stream_arn: str | None
    stream_view: str | None


class LiveTable:
    def __init__(self, dynamodb: DynamoDBClient, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = dynamodb
        self._sleep = sleep

    def facts(self, table: str) -> TableFacts:
        with aws_errors(table=table):
            described = self._client.describe_table(TableName=table)["Table"]
            ttl = self._client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
        capacity, source = write_capacity(dict(described))
        stream: dict[str, Any] = dict(described.get("StreamSpecification") or {})
        return TableFacts(
            name=table,
            key_names=tuple(k["AttributeName"] for k in described["KeySchema"]),
            ttl_attribute=ttl.get("AttributeName")
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            else None,
            write_capacity=capacity,
            capacity_source=source,
            stream_arn=described.get("LatestStreamArn") if stream.get("StreamEnabled") else None,
            stream_view=stream.get("StreamViewType"),
        )

    def read(self, table: str, keys: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any] | None]:
        """Strongly consistent items by key id (None: no such item), in client form."""
        found: dict[str, dict[str, Any] | None] = {key_id_of(k): None for k in keys}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            pending: KeysAndAttributesTypeDef = {
                "Keys": [dict(k) for k in keys[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": True,
            }
            for attempt in range(READ_ATTEMPTS):
                with aws_errors(table=table):
                    response = self._client.batch_get_item(RequestItems={table: pending})
                for item in response.get("Responses", {}).get(table, []):
                    found[key_id_of(_key_of(item, keys[start]))] = dict(item)
                unprocessed = response.get("UnprocessedKeys", {}).get(table)
                if not unprocessed or not unprocessed.get("Keys"):
                    break
                pending = {"Keys": list(unprocessed["Keys"]), "ConsistentRead": True}
                self._sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
            else:
                raise TransientAwsError(
                    f"reads of {table} still unprocessed after {READ_ATTEMPTS} attempts", table=table
                )
        return found


def _key_of(item: Mapping[str, Any], sample_key: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in sample_key}


def write_capacity(described: Mapping[str, Any]) -> tuple[float, str]:
    """Write units per second the table sustains now: provisioned capacity (the smallest of the
    table's and its indexes', as every write also writes the indexes), else the on-demand
    maximum or the table's warm throughput."""
    billing = (described.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    parts: list[tuple[float, str]] = []
    for owner, name in [
        (described, "table"),
        *[(g, f"index {g.get('IndexName')}") for g in described.get("GlobalSecondaryIndexes") or []],
    ]:
        if billing == "PROVISIONED":
            units = float((owner.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits") or 0)
            if units > 0:
                parts.append((units, f"provisioned {name}"))
            continue
        maximum = float((owner.get("OnDemandThroughput") or {}).get("MaxWriteRequestUnits") or 0)
        warm = float((owner.get("WarmThroughput") or {}).get("WriteUnitsPerSecond") or 0)
        if maximum > 0:
            parts.append((maximum, f"on-demand maximum of the {name}"))
        if warm > 0:
            parts.append((warm, f"warm throughput of the {name}"))
    if not parts:
        return NEW_ON_DEMAND_WRITE_UNITS, "a new on-demand table's 4,000 write units"
    return min(parts, key=lambda part: part[0])  # the table first on a tie
