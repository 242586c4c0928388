"""The CDC failure queue (shared by all tables): its depth, and which streams its messages name.

Lambda sends a batch it gave up on to the mapping's on-failure destination as a DDBStreamBatchInfo
record (shard, sequence range, arrival times, stream ARN; never the data). Read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


@dataclass(frozen=True)
class DeadLetterGap:
    """A batch Lambda gave up on: its records are not in the archive (DDBStreamBatchInfo)."""

    stream_arn: str
    shard: str
    first: datetime  # approximate arrival of the batch's first record
    last: datetime
    records: int


@dataclass(frozen=True)
class DeadLetters:
    depth: int
    gaps: tuple[DeadLetterGap, ...] = ()
    unread: int = 0  # messages counted in the depth that could not be read or are not ours


class DeadLetterView:
    """The CDC failure queue, shared by all tables: its depth, and which streams its messages name.

    Messages are looked at with a zero visibility timeout (they stay visible to the operator who
    redrives them); a message that cannot be read or parsed counts as unattributed."""

    def __init__(self, sqs: SQSClient, queue_url: str, *, max_reads: int = 10) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._max_reads = max_reads

    def depth(self) -> int:
        with aws_errors():
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            ).get("Attributes", {})
        visible = attributes.get("ApproximateNumberOfMessages", "0")
        in_flight = attributes.get("ApproximateNumberOfMessagesNotVisible", "0")
        return int(visible) + int(in_flight)

    def read(self) -> DeadLetters:
        depth = self.depth()
        if depth == 0:
            return DeadLetters(0)
        bodies: dict[str, str] = {}
        for _ in range(self._max_reads):  # SQS samples its servers: read until nothing new shows up
            with aws_errors():
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
                ).get("Messages", [])
            new = {m["MessageId"]: m.get("Body", "") for m in messages if m["MessageId"] not in bodies}
            bodies.update(new)
            if not new or len(bodies) >= depth:
                break
        gaps = [gap for gap in (parse_dead_letter(body) for body in bodies.values()) if gap is not None]
        return DeadLetters(depth, tuple(gaps), max(0, depth - len(gaps)))


def parse_dead_letter(body: str) -> DeadLetterGap | None:
    """A Lambda on-failure record of a DynamoDB stream batch, or None."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        return DeadLetterGap(
            stream_arn=str(info["streamArn"]),
            shard=str(info.get("shardId", "?")),
            first=_utc(info["approximateArrivalOfFirstRecord"]),
            last=_utc(info["approximateArrivalOfLastRecord"]),
            records=int(info.get("batchSize", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
