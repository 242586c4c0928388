"""Read an emulated table's stream the way Lambda's event source mapping delivers it.

moto's own mapping delivers one write at a time and reuses sequence numbers once it has
delivered; reading the stream with GetRecords and shaping the records like Lambda does gives real,
correctly numbered stream records in batches of any size.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any


def _wire(value: Any) -> Any:
    """boto3 decodes B/BS to bytes; Lambda events carry them as base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    shaped = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "dynamodb": _wire(dynamodb),
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:
        shaped["userIdentity"] = record["userIdentity"]
    return shaped


class StreamReader:
    """Follows one table's stream from TRIM_HORIZON; `read()` returns the new records."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        self.stream_arn = str(dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"])
        self._streams = streams
        self._after: dict[str, str] = {}  # shard -> last sequence number read
        self._start: dict[str, str] = {}  # shard -> iterator to start from (skip_to_latest)

    def skip_to_latest(self) -> None:
        """Start after what the stream holds now without reading it (Lambda's LATEST position)."""
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            self._after.pop(shard["ShardId"], None)
            self._start[shard["ShardId"]] = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
            if shard_id in self._after:
                request.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self._after[shard_id]
                )
            else:
                request["ShardIteratorType"] = "TRIM_HORIZON"
            start = self._start.pop(shard_id, None)
            iterator = start or self._streams.get_shard_iterator(**request)["ShardIterator"]
            while iterator and len(records) < limit:
                page = self._streams.get_records(
                    ShardIterator=iterator, Limit=min(1000, limit - len(records))
                )
                if not page["Records"]:
                    if shard_id not in self._after:  # nothing after the LATEST start yet: keep it
                        self._start[shard_id] = page.get("NextShardIterator") or iterator
                    break
                records.extend(lambda_record(r, self.stream_arn) for r in page["Records"])
                self._after[shard_id] = page["Records"][-1]["dynamodb"]["SequenceNumber"]
                iterator = page.get("NextShardIterator")
        return records


def whole_second_stream_times(set_attr: Callable[[Any, str, Any], None]) -> None:
    """Stamp stream records' ApproximateCreationDateTime rounded down to the second, as AWS does
    (moto keeps microseconds, which hides replay windows that start inside a second).

    `set_attr(owner, name, value)` installs the hook (the emulator's Patches undo it on exit).
    """
    from moto.dynamodb.models.table import StreamRecord

    original = StreamRecord.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created = self.record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            self.record["dynamodb"]["ApproximateCreationDateTime"] = created.replace(microsecond=0)

    set_attr(StreamRecord, "__init__", init)


@contextmanager
def monotonic_stream_sequences() -> Iterator[None]:
    """Fix moto 5.2.5's stream numbering while an event source mapping is attached.

    After a mapping delivery moto empties the shard and numbers the next record from the shard's
    start again, so every delivered record gets the same sequence number. This keeps a counter per
    shard instead (the delivery itself is moto's, unchanged).
    """
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    original = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        view = self.table.stream_specification["StreamViewType"]
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        seq = getattr(self, "_ddbdr_next_seq", self.starting_sequence_number + len(self.items))
        self._ddbdr_next_seq = seq + 1
        self.items.append(StreamRecord(self.table, view, event, old, new, seq))
        from moto.awslambda.utils import get_backend

        result = None
        for arn, esm in self.table.lambda_event_source_mappings.items():
            result = get_backend(self.account_id, arn.split(":")[3]).send_dynamodb_items(
                arn, self.items, esm.event_source_arn
            )
        if result:
            self.items = []

    StreamShard.add = add  # type: ignore[method-assign]
    try:
        yield
    finally:
        StreamShard.add = original  # type: ignore[method-assign]
