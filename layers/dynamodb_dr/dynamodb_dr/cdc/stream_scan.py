"""Every record a DynamoDB stream still holds, shard by shard from its trim horizon.

Two readers need this: the repair's coverage proof on a quiet table (every record made before the
window's end must be archived) and `erase` (an erased key's changes still on their way to the
archive). Both read at most a given number of records and say when that limit cut the read short.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient

EMPTY_PAGES_AT_TIP = 3  # an open shard answers empty pages at its tip
PAGE_LIMIT = 1000  # GetRecords' maximum


@dataclass(frozen=True)
class StreamRecord:
    """A stream record's sequence number, time (UTC) and key attributes (no item images)."""

    sequence: str
    created: datetime
    keys: dict[str, Any]


def scan_stream(
    streams: DynamoDBStreamsClient, stream_arn: str, limit: int
) -> tuple[list[StreamRecord], bool]:
    """At most `limit` records of every shard; True when the limit stopped the read early."""
    found: list[StreamRecord] = []
    for shard in _shards(streams, stream_arn):
        found.extend(_shard_records(streams, stream_arn, shard, limit - len(found)))
        if len(found) >= limit:
            return found, True
    return found, False


def _shards(streams: DynamoDBStreamsClient, stream_arn: str) -> Iterator[str]:
    request: dict[str, Any] = {"StreamArn": stream_arn}
    while True:  # hand loop: dynamodbstreams has no DescribeStream paginator
        with aws_errors():
            described = streams.describe_stream(**request)["StreamDescription"]
        yield from (str(s["ShardId"]) for s in described.get("Shards", []))
        last = described.get("LastEvaluatedShardId")
        if not last:
            return
        request["ExclusiveStartShardId"] = last


def _shard_records(
    streams: DynamoDBStreamsClient, stream_arn: str, shard: str, limit: int
) -> Iterator[StreamRecord]:
    with aws_errors():
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
    empty, read = 0, 0
    while iterator and read < limit and empty < EMPTY_PAGES_AT_TIP:  # hand loop: no paginator
        with aws_errors():
            page = streams.get_records(ShardIterator=iterator, Limit=min(PAGE_LIMIT, limit - read))
        records = page.get("Records", [])
        empty = 0 if records else empty + 1
        for record in records[: limit - read]:
            data = record.get("dynamodb", {})
            created = data.get("ApproximateCreationDateTime")
            if not isinstance(created, datetime):
                created = datetime.fromtimestamp(float(created or 0), UTC)
            read += 1
            yield StreamRecord(
                str(data.get("SequenceNumber")), created.astimezone(UTC), dict(data.get("Keys", {}))
            )
        iterator = page.get("NextShardIterator")
