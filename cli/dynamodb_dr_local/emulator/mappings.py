"""Lambda's DynamoDB stream event source mapping, emulated the way Lambda runs it.

moto's own mapping hands every write to the function at once, synchronously, one record at a
time, and ignores the result. Lambda instead, per mapping: delivers batches (`BatchSize`) while
the mapping is Enabled; checkpoints only what the function archived (a partial batch response
resumes at the reported record, a function error retries the whole batch); retries until
`MaximumRetryAttempts` or `MaximumRecordAgeInSeconds` is reached, then sends the batch's position
(DDBStreamBatchInfo, never the data) to the on-failure destination; and publishes `IteratorAge`
(the age of the batch's last record, dimensions FunctionName and EventSourceMappingUUID),
`Errors`, `Throttles` (reserved concurrency 0) and `DestinationDeliveryFailures` (the position
could not be sent: those records are gone without a trace) to CloudWatch. `poll()` is one such delivery,
at the emulated clock's time (emulator/time_travel.py), which stamps the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dynamodb_dr_local.emulator.streams import StreamReader
from dynamodb_dr_local.emulator.time_travel import CLOCK

if TYPE_CHECKING:
    from dynamodb_dr_local.emulator.core import Emulator


@dataclass
class Poll:
    state: str  # the mapping's State when polled
    records: int = 0  # records in the batch delivered (0: nothing to deliver, or not Enabled)
    archived: int = 0  # records checkpointed by this delivery
    failed: bool = False
    throttled: bool = False
    iterator_age_seconds: float | None = None
    dead_lettered: int = 0  # records given up on (their position sent to the destination)
    undelivered: int = 0  # of those, records whose position could not be sent either


class MappingDelivery:
    def __init__(
        self, emu: Emulator, mapping_uuid: str, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._emu = emu
        self._lambda = emu.clients.client("lambda")
        self._cloudwatch = emu.clients.client("cloudwatch")
        self.uuid = mapping_uuid
        self._clock = clock or CLOCK.now
        mapping = self._mapping()
        self.stream_arn = str(mapping["EventSourceArn"])
        self.function = str(mapping["FunctionArn"]).rsplit(":", 1)[-1]
        table = self.stream_arn.split(":", 5)[5].split("/")[1]
        self._reader = StreamReader(
            emu.clients.client("dynamodb"), emu.clients.client("dynamodbstreams"), table
        )
        self._reader.stream_arn = self.stream_arn
        self._batch: list[dict[str, Any]] = []  # delivered, not yet checkpointed (retried as is)
        self._attempts = 0
        _detach_synchronous_delivery(str(mapping["FunctionArn"]), table, emu.region)

    def skip_to_latest(self) -> int:
        """Start after what the stream holds now (LATEST), like a mapping created at this moment."""
        return len(self._reader.read(limit=10**9))

    def poll(self) -> Poll:
        mapping = self._mapping()
        poll = Poll(state=str(mapping.get("State")))
        if poll.state != "Enabled":
            return poll
        if not self._batch:  # a failed batch is retried as it was, without newer records
            size = int(mapping.get("BatchSize") or 100)
            self._batch = self._reader.read(limit=size)
        batch = self._batch
        if not batch:
            return poll
        poll.records = len(batch)
        now = self._clock()
        if self._throttled():  # no concurrency left: Lambda retries the invoke later, nothing runs
            self._cloudwatch.put_metric_data(
                Namespace="AWS/Lambda",
                MetricData=[{"MetricName": "Throttles", "Dimensions": self._dimensions(), "Value": 1.0,
                             "Timestamp": now}],
            )  # fmt: skip
            poll.failed, poll.throttled = True, True
            return poll
        poll.iterator_age_seconds = max(0.0, now.timestamp() - _created(batch[-1]))
        done, errored = self._invoke(batch)
        self._publish(now, poll.iterator_age_seconds, errored)
        poll.archived, poll.failed = done, done < len(batch)
        self._batch = batch[done:]  # checkpointed before the first record not archived
        if not poll.failed:
            self._attempts = 0
            return poll
        self._attempts += 1
        if self._given_up(mapping, now):
            poll.dead_lettered = len(self._batch)
            if not self._dead_letter(mapping, self._batch, now):
                poll.undelivered = poll.dead_lettered
            self._batch, self._attempts = [], 0
        return poll

    def drain(self, max_polls: int = 1000) -> int:
        """Poll until nothing is pending and the stream has nothing new; returns records archived."""
        archived = 0
        for _ in range(max_polls):
            poll = self.poll()
            archived += poll.archived
            if poll.records == 0 or poll.failed:
                return archived
        raise RuntimeError(f"mapping {self.uuid} did not drain in {max_polls} polls")

    def _mapping(self) -> dict[str, Any]:
        return dict(self._lambda.get_event_source_mapping(UUID=self.uuid))

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[int, bool]:
        """How many records from the start of the batch are done, and whether the function errored."""
        response = self._lambda.invoke(FunctionName=self.function, Payload=json.dumps({"Records": batch}))
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            return 0, True
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        if not failures:
            return len(batch), False
        failed = str(failures[0].get("itemIdentifier", ""))
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        return (sequences.index(failed) if failed in sequences else 0), False

    def _given_up(self, mapping: dict[str, Any], now: datetime) -> bool:
        retries, max_age = (
            -1 if mapping.get(key) is None else int(mapping[key])
            for key in ("MaximumRetryAttempts", "MaximumRecordAgeInSeconds")
        )
        too_many = retries >= 0 and self._attempts > retries
        too_old = max_age >= 0 and bool(self._batch) and now.timestamp() - _created(self._batch[0]) > max_age
        return too_many or too_old

    def _dead_letter(self, mapping: dict[str, Any], records: list[dict[str, Any]], now: datetime) -> bool:
        """Sends the batch's position to the on-failure destination; False when that failed."""
        destination = (mapping.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        if not destination or not records:
            return True  # no destination: Lambda just discards the batch
        message = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self._attempts,
            },
            "version": "1.0",
            "timestamp": now.isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-emulated",
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _arrival(records[0]),
                "approximateArrivalOfLastRecord": _arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        sqs = self._emu.clients.client("sqs")
        try:
            queue_url = sqs.get_queue_url(QueueName=str(destination).rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        except ClientError:  # queue deleted, its policy or key changed: Lambda counts and drops it
            self._cloudwatch.put_metric_data(
                Namespace="AWS/Lambda",
                MetricData=[{"MetricName": "DestinationDeliveryFailures", "Dimensions": self._dimensions(),
                             "Value": 1.0, "Timestamp": now}],
            )  # fmt: skip
            return False
        return True

    def _throttled(self) -> bool:
        """Reserved concurrency 0 throttles every invocation (what an operator does to stop one)."""
        reserved = self._lambda.get_function_concurrency(FunctionName=self.function)
        return reserved.get("ReservedConcurrentExecutions") == 0

    def _dimensions(self) -> list[Any]:
        return [{"Name": "FunctionName", "Value": self.function}]

    def _publish(self, now: datetime, age_seconds: float, errored: bool) -> None:
        function = self._dimensions()
        mapping = [*function, {"Name": "EventSourceMappingUUID", "Value": self.uuid}]
        data: list[Any] = [
            {"MetricName": "IteratorAge", "Dimensions": dims, "Value": age_seconds * 1000, "Timestamp": now,
             "Unit": "Milliseconds"}
            for dims in (function, mapping)
        ]  # fmt: skip
        data.append(
            {"MetricName": "Errors", "Dimensions": function, "Value": float(errored), "Timestamp": now}
        )
        self._cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def _created(record: dict[str, Any]) -> float:
    return float(record["dynamodb"]["ApproximateCreationDateTime"])


def _arrival(record: dict[str, Any]) -> str:
    return datetime.fromtimestamp(_created(record), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _detach_synchronous_delivery(function_arn: str, table: str, region: str) -> None:
    """moto would also hand every write to the function itself; this mapping delivers instead."""
    from moto.dynamodb.models import dynamodb_backends

    from dynamodb_dr_local.emulator.core import ACCOUNT_ID

    dynamodb_backends[ACCOUNT_ID][region].get_table(table).lambda_event_source_mappings.pop(
        function_arn, None
    )
