"""Read-only adapters the coverage proof asks: deleted archive objects, the CDC failure queue and
the live table's own stream. None of them writes anything."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.cdc.model import parse_stream_arn
from dynamodb_dr.cdc.stream_scan import StreamRecord, scan_stream
from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import MalformedStreamRecord

if TYPE_CHECKING:
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient

MAX_FAILURE_MESSAGES = 1000


class ArchiveVersions:
    """Archive objects that were deleted (a delete marker is their latest version): a gap."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def deleted(self, prefix: str) -> list[str]:
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=prefix)
        found = []
        with aws_errors():
            for page in pages:
                for marker in page.get("DeleteMarkers", []):
                    if marker.get("IsLatest") and str(marker.get("Key", "")).endswith(".jsonl.gz"):
                        found.append(str(marker["Key"]))
        return found


@dataclass(frozen=True)
class FailedBatch:
    """Stream records the archiver gave up on (Lambda's on-failure record for one batch)."""

    table: str
    stream_label: str
    first: datetime
    last: datetime
    start_sequence: str
    end_sequence: str


class FailureQueue:
    """The CDC failure queue, peeked at: messages are received with a short visibility timeout
    and never deleted, so they stay for the operator (and the alarm stays on)."""

    def __init__(self, sqs: SQSClient, queue_url: str, *, visibility_seconds: int = 30) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._visibility = visibility_seconds

    def batches(self) -> list[FailedBatch]:
        seen: dict[str, FailedBatch | None] = {}
        # Hand loop: SQS has no paginator; stop when a receive brings nothing new.
        while len(seen) < MAX_FAILURE_MESSAGES:
            with aws_errors():
                messages = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=self._visibility,
                    WaitTimeSeconds=1,
                ).get("Messages", [])
            fresh = [m for m in messages if m.get("MessageId") not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[str(message.get("MessageId"))] = _failed_batch(message.get("Body", ""))
        return [batch for batch in seen.values() if batch is not None]


def _failed_batch(body: str) -> FailedBatch | None:
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        source = parse_stream_arn(str(info["streamArn"]))
        return FailedBatch(
            table=source.physical_table,
            stream_label=source.stream_label,
            first=_time(info["approximateArrivalOfFirstRecord"]),
            last=_time(info["approximateArrivalOfLastRecord"]),
            start_sequence=str(info.get("startSequenceNumber", "")),
            end_sequence=str(info.get("endSequenceNumber", "")),
        )
    except (ValueError, KeyError, TypeError, MalformedStreamRecord):
        return None  # not an on-failure record of a DynamoDB stream (nothing to learn from it)


def _time(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


class StreamTail:
    """Reads a table's stream (every shard, from its trim horizon) to see which records exist.

    Used only when the archive alone cannot prove it reached the window's end (a quiet table):
    every record made before the end must then be in the archive."""

    def __init__(self, streams: DynamoDBStreamsClient) -> None:
        self._streams = streams

    def records(self, stream_arn: str, limit: int) -> tuple[list[StreamRecord], bool]:
        """The stream's records (sequence, stamp); True when `limit` stopped the read early."""
        return scan_stream(self._streams, stream_arn, limit)
