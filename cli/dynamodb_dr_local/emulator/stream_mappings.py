"""Lambda's DynamoDB stream poller, for the served emulator (`dynamodb-dr local`).

moto delivers a stream write to a mapped function synchronously, inside the write, re-sending the
shard's whole backlog and restarting its sequence numbers after each delivery: the archiver then
saw one batch, and every later write looked like a duplicate of it. Here writes only append to
the shard (with increasing sequence numbers) and a poller thread does what Lambda's does: for
every enabled mapping on a DynamoDB stream it reads the shards with GetRecords from the mapping's
starting position and invokes the function with batches of up to BatchSize records, shaped like
Lambda's events. Partial batch responses (`batchItemFailures`) resume at the first failed record;
a function error retries the batch; after MaximumRetryAttempts the batch's range goes to the
mapping's on-failure SQS destination, as Lambda does, and the poller moves on.
Not modelled: the batching window (deliveries happen every poll interval), bisecting batches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr_local.emulator.streams import lambda_record

POLL_SECONDS = 1.0


@contextmanager
def deferred_delivery() -> Iterator[None]:
    """Stream writes only append (numbered per shard); the poller delivers them."""
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    original = StreamShard.add

    def add(shard: Any, old: Any, new: Any) -> None:
        view = shard.table.stream_specification["StreamViewType"]
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        sequence = shard.starting_sequence_number + len(shard.items)
        shard.items.append(StreamRecord(shard.table, view, event, old, new, sequence))

    StreamShard.add = add  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        StreamShard.add = original  # type: ignore[method-assign]


@dataclass
class _Position:
    iterator: str | None = None  # where the next read starts (None: not resolved yet)
    attempts: int = 0  # deliveries of the current batch that failed


@dataclass
class _Mapping:
    shards: dict[str, _Position] = field(default_factory=dict)


class StreamMappingPoller:
    """Delivers every mapped stream's records to its function; `poll_once()` for tests."""

    def __init__(self, clients: Any, *, log: Callable[[str], None] | None = None) -> None:
        self._lambda = clients.client("lambda")
        self._streams = clients.client("dynamodbstreams")
        self._sqs = clients.client("sqs")
        self._log = log or (lambda line: None)
        self._mappings: dict[str, _Mapping] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def start(self, interval: float = POLL_SECONDS) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll_once()
                except Exception as exc:  # keep polling: a failed round is retried next time
                    self._log(f"stream poller: {type(exc).__name__}: {str(exc)[:200]}")

        self._thread = threading.Thread(target=loop, name="stream-mapping-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def poll_once(self) -> int:
        delivered = 0
        seen: set[str] = set()
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for mapping in page["EventSourceMappings"]:
                arn = mapping.get("EventSourceArn", "")
                if ":dynamodb:" not in arn or "/stream/" not in arn or mapping.get("State") == "Disabled":
                    continue
                seen.add(mapping["UUID"])
                delivered += self._deliver(mapping, self._mappings.setdefault(mapping["UUID"], _Mapping()))
        for gone in set(self._mappings) - seen:
            del self._mappings[gone]
        self.delivered += delivered
        return delivered

    def _deliver(self, mapping: dict[str, Any], state: _Mapping) -> int:
        stream = mapping["EventSourceArn"]
        delivered = 0
        for shard in self._streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"]:
            position = state.shards.setdefault(shard["ShardId"], _Position())
            if position.iterator is None:
                position.iterator = self._streams.get_shard_iterator(
                    StreamArn=stream,
                    ShardId=shard["ShardId"],
                    ShardIteratorType=mapping.get("StartingPosition") or "TRIM_HORIZON",
                )["ShardIterator"]
            while True:
                limit = mapping.get("BatchSize") or 100
                page = self._streams.get_records(ShardIterator=position.iterator, Limit=limit)
                records = page["Records"]
                if not records:
                    position.iterator = page.get("NextShardIterator") or position.iterator
                    break
                resume = self._invoke(mapping, shard["ShardId"], records, position)
                if resume is None:  # delivered (or given up on): move past the batch
                    position.iterator, position.attempts = page.get("NextShardIterator"), 0
                    delivered += len(records)
                    if position.iterator is None:
                        break
                    continue
                position.iterator = self._streams.get_shard_iterator(
                    StreamArn=stream,
                    ShardId=shard["ShardId"],
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=resume,
                )["ShardIterator"]
                delivered += sum(1 for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(resume))
                break  # retry on the next poll
        return delivered

    def _invoke(
        self, mapping: dict[str, Any], shard_id: str, records: list[dict[str, Any]], position: _Position
    ) -> str | None:
        """Deliver one batch. Returns the sequence number to resume at, or None when done."""
        stream = mapping["EventSourceArn"]
        event = {"Records": [lambda_record(r, stream) for r in records]}
        response = self._lambda.invoke(FunctionName=mapping["FunctionArn"], Payload=json.dumps(event))
        payload = json.loads(response["Payload"].read() or b"null")
        first = str(records[0]["dynamodb"]["SequenceNumber"])
        if response.get("FunctionError"):
            resume = first
            self._log(f"stream mapping: {mapping['FunctionArn'].rsplit(':', 1)[-1]} failed a batch; retrying")
        elif "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []) and isinstance(
            payload, dict
        ):
            failures = payload.get("batchItemFailures") or []
            if not failures:
                return None
            resume = str(failures[0].get("itemIdentifier") or first)
        else:
            return None
        position.attempts += 1
        limit = mapping.get("MaximumRetryAttempts")
        if limit is not None and limit >= 0 and position.attempts > limit:
            self._on_failure(mapping, shard_id, records)
            return None
        return resume

    def _on_failure(self, mapping: dict[str, Any], shard_id: str, records: list[dict[str, Any]]) -> None:
        destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self._log(f"stream mapping: batch of {len(records)} records given up after retries")
        if not destination or ":sqs:" not in destination:
            return
        account, name = destination.split(":")[4:6]
        url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        created = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        message = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "functionArn": mapping["FunctionArn"],
                "approximateInvokeCount": (mapping.get("MaximumRetryAttempts") or 0) + 1,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(created[0]),
                "approximateArrivalOfLastRecord": _iso(created[-1]),
                "batchSize": len(records),
                "streamArn": mapping["EventSourceArn"],
            },
            "timestamp": datetime.now(UTC).isoformat(),
        }
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return None if value is None else str(value)
