"""DynamoDB's per-minute write metrics, published to the emulated CloudWatch as AWS does.

AWS publishes `ConsumedWriteCapacityUnits` (namespace AWS/DynamoDB, dimension TableName) for every
minute a table is written to, on-demand tables included; moto publishes nothing. The posture check
reads it to tell a quiet table from one whose writes do not reach the CDC archive. Every write
through the API (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) counts one
unit, summed per table and minute into one data point, so a 10,000-item load adds a handful.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NAMESPACE = "AWS/DynamoDB"
METRIC = "ConsumedWriteCapacityUnits"


class _MinuteCounters:
    """One CloudWatch datum per (account, region, table, minute), incremented in place."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, str], Any] = {}  # the table's datum of the latest minute

    def count(self, account: str, region: str, table: str) -> None:
        from moto.cloudwatch.models import MetricDatum, cloudwatch_backends
        from moto.core.utils import utcnow

        from dynamodb_dr_local.emulator.time_travel import CLOCK

        minute = (utcnow() + CLOCK.offset).replace(second=0, microsecond=0)
        key = (account, region, table)
        current = self._open.get(key)
        if current is not None and current.timestamp == minute:
            current.value += 1.0
            return
        datum = MetricDatum(NAMESPACE, METRIC, 1.0, [{"Name": "TableName", "Value": table}], minute, "Count")
        cloudwatch_backends[account][region].metric_data.append(datum)
        self._open[key] = datum


def publish_write_metrics(set_attr: Callable[[Any, str, Any], None]) -> None:
    """Count every successful write of the emulated DynamoDB (the emulator's Patches undo it)."""
    from moto.dynamodb.models import DynamoDBBackend

    counters = _MinuteCounters()
    for name in ("put_item", "update_item", "delete_item"):
        set_attr(DynamoDBBackend, name, _counting(getattr(DynamoDBBackend, name), counters))


def _counting(original: Callable[..., Any], counters: _MinuteCounters) -> Callable[..., Any]:
    def write(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original(self, table_name, *args, **kwargs)
        counters.count(self.account_id, self.region_name, table_name)
        return result

    return write
