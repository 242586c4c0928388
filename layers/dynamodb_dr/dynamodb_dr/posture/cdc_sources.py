"""Read-only views of the CDC archive's freshness: the archive itself, the archiver's mappings,
Lambda's IteratorAge and the tables' writes (CloudWatch); the failure queue is in dead_letters.py.

Everything here reads; nothing writes. The fleet-wide reads (mappings, metrics, dead letters) are
made once per posture run, in batches, not once per table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from dynamodb_dr.cdc.coverage import CoverageStore, StreamId
from dynamodb_dr.cdc.model import NEWEST_CHANGE_METADATA, partition_prefix, read_object
from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef, MetricTypeDef
    from types_boto3_lambda import LambdaClient
    from types_boto3_s3 import S3Client

METRIC_QUERIES_PER_CALL: Final = 500  # GetMetricData's limit
OBJECTS_SAMPLED: Final = 3  # objects read for their newest change, newest by LastModified and by name
CURRENT_MINUTE: Final = timedelta(minutes=1)  # metric queries end after now: the current minute counts
# Batches Lambda dropped without a failure-queue message are looked for this far back, per hour
# (CloudWatch keeps 5-minute data 63 days; the hour is a multiple of 300 s, as it asks beyond 15).
DROPS_LOOKBACK: Final = timedelta(days=63)
HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True)
class StreamArchive:
    newest_object: datetime | None  # LastModified of the table's newest archive object (any stream)
    newest_change: datetime | None  # newest change archived from the given stream
    covered_since: datetime | None  # the follower's coverage record of that stream


class CdcArchiveView:
    """The archive under cdc/table=<logical>/ within a lookback, newest hour first."""

    def __init__(self, s3: S3Client, bucket: str, *, lookback: timedelta = timedelta(hours=6)) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._lookback = lookback
        self._coverage = CoverageStore(s3, bucket)

    def newest_object(self, logical: str, now: datetime) -> datetime | None:
        return self.stream_archive(logical, None, now).newest_object

    def stream_archive(self, logical: str, stream_arn: str | None, now: datetime) -> StreamArchive:
        stream = StreamId.from_arn(stream_arn) if stream_arn else None
        folder = f"{stream.physical_table}--{stream.label.replace(':', '')}/" if stream else None
        newest_object: datetime | None = None
        newest_change: datetime | None = None
        for hour in self._hours(now):
            prefix = partition_prefix(logical, hour)
            objects = [o for o in self._list(prefix) if o["Key"].endswith(".jsonl.gz")]
            if newest_object is None and objects:
                newest_object = max(o["LastModified"] for o in objects)
            mine = [o for o in objects if folder and o["Key"].startswith(prefix + folder)]
            if mine and newest_change is None:
                newest_change = self._newest_change(mine)
            if newest_object is not None and (newest_change is not None or folder is None):
                break
        covered = self._coverage.coverage_since(stream) if stream else None
        return StreamArchive(newest_object, newest_change, covered)

    def _hours(self, now: datetime) -> Iterator[datetime]:
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour >= now - self._lookback - timedelta(hours=1):
            yield hour
            hour -= timedelta(hours=1)

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        with aws_errors():
            return [dict(obj) for page in pages for obj in page.get("Contents", [])]

    def _newest_change(self, objects: Sequence[dict[str, Any]]) -> datetime | None:
        """Objects of several shards interleave, so the newest few written are read, not one; and
        the few named by the highest sequence numbers (a shard's newest), since an erasure rewrites
        older objects (`dynamodb-dr erase`), which makes them the newest written."""
        written = sorted(objects, key=lambda o: (o["LastModified"], o["Key"]))[-OBJECTS_SAMPLED:]
        named = sorted(objects, key=lambda o: o["Key"])[-OBJECTS_SAMPLED:]
        keys = dict.fromkeys(o["Key"] for o in [*written, *named])
        return max((t for t in map(self._object_newest, keys) if t is not None), default=None)

    def _object_newest(self, key: str) -> datetime | None:
        with aws_errors():
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        stamp = head.get("Metadata", {}).get(NEWEST_CHANGE_METADATA)
        if stamp:
            return datetime.fromisoformat(stamp).astimezone(UTC)
        with aws_errors():  # written before the archiver stamped its objects: read it
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return max((change.approximate_creation for change in read_object(body, key)), default=None)


@dataclass(frozen=True)
class ArchiverMapping:
    uuid: str
    stream_arn: str
    state: str
    last_result: str | None


class ArchiverMappingsView:
    """The archiver function's stream mappings (one ListEventSourceMappings walk per run)."""

    def __init__(self, lambda_client: LambdaClient, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def by_stream(self) -> dict[str, ArchiverMapping]:
        found: dict[str, ArchiverMapping] = {}
        with aws_errors():
            for page in self._lambda.get_paginator("list_event_source_mappings").paginate(
                FunctionName=self._function
            ):
                for listed in page.get("EventSourceMappings", []):
                    arn = listed.get("EventSourceArn", "")
                    if ":dynamodb:" in arn and "/stream/" in arn:
                        mapping = ArchiverMapping(
                            listed["UUID"], arn, listed.get("State", "?"), listed.get("LastProcessingResult")
                        )
                        # Two mappings on one stream: report the one that is not running.
                        if arn not in found or mapping.state != "Enabled":
                            found[arn] = mapping
        return found


@dataclass(frozen=True)
class LagReading:
    """The latest minute of an IteratorAge series (Maximum): the batch delivered then whose last
    record was oldest was `seconds` old."""

    minute: datetime
    seconds: float


@dataclass(frozen=True)
class MappingLags:
    by_uuid: dict[str, LagReading]  # mapping -> its latest IteratorAge minute in the window
    function: LagReading | None  # the archiver's slowest mapping (function-level series)
    per_mapping_published: bool  # Lambda published a per-mapping series for any of our mappings
    # End of the latest hour in which Lambda dropped a batch and could not even send its position
    # to the failure queue (DestinationDeliveryFailures): the records dropped are older than it,
    # on a stream nobody can name, so no stream of the archiver is provably whole before it.
    dropped_until: datetime | None = None


class MappingLagView:
    """Lambda's `IteratorAge` (AWS/Lambda): per mapping (dimension EventSourceMappingUUID, whatever
    other dimensions it comes with) and for the whole function (FunctionName only).

    Lambda publishes it only for minutes with deliveries, so the window is short: a reading older
    than it says nothing about now (a mapping that caught up on a quiet stream reports no more).
    """

    def __init__(
        self, cloudwatch: CloudWatchClient, function_name: str, *, window: timedelta = timedelta(minutes=5)
    ) -> None:
        self._cloudwatch = cloudwatch
        self._function = function_name
        self._window = window

    def lags(self, uuids: Collection[str], now: datetime) -> MappingLags:
        series: dict[str, MetricTypeDef] = {
            "fn": _metric("AWS/Lambda", "IteratorAge", FunctionName=self._function)
        }
        owners: dict[str, str] = {}
        with aws_errors():
            pages = self._cloudwatch.get_paginator("list_metrics").paginate(
                Namespace="AWS/Lambda",
                MetricName="IteratorAge",
                Dimensions=[{"Name": "EventSourceMappingUUID"}],
            )
            for page in pages:
                for metric in page.get("Metrics", []):
                    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                    uuid = dims.get("EventSourceMappingUUID")
                    if uuid is not None and uuid in uuids:
                        query_id = f"m{len(owners)}"
                        owners[query_id] = uuid
                        series[query_id] = _metric("AWS/Lambda", "IteratorAge", **dims)
        points = metric_points(self._cloudwatch, series, "Maximum", now - self._window, now + CURRENT_MINUTE)
        latest = {qid: LagReading(*max(values)) for qid, values in points.items() if values}
        by_uuid: dict[str, LagReading] = {}
        for query_id, uuid in owners.items():
            reading = latest.get(query_id)
            if reading is not None and (uuid not in by_uuid or reading.minute > by_uuid[uuid].minute):
                by_uuid[uuid] = reading
        seconds = {qid: LagReading(r.minute, r.seconds / 1000) for qid, r in latest.items()}
        by_uuid = {uuid: LagReading(r.minute, r.seconds / 1000) for uuid, r in by_uuid.items()}
        return MappingLags(by_uuid, seconds.get("fn"), bool(owners), self._dropped_until(now))

    def _dropped_until(self, now: datetime) -> datetime | None:
        series = {"dd": _metric("AWS/Lambda", "DestinationDeliveryFailures", FunctionName=self._function)}
        start = (now - DROPS_LOOKBACK).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        points = metric_points(self._cloudwatch, series, "Sum", start, now + CURRENT_MINUTE, period=HOUR)
        hours = [stamp for stamp, value in points.get("dd", []) if value > 0]
        return max(hours) + HOUR if hours else None


class WriteActivityView:
    """Minutes in which each table was written to: DynamoDB's `ConsumedWriteCapacityUnits` and
    `TimeToLiveDeletedItemCount` (AWS/DynamoDB, per minute, Sum). Both are published only for
    minutes with activity, so a quiet table has no data points at all."""

    def __init__(self, cloudwatch: CloudWatchClient, *, lookback: timedelta = timedelta(hours=6)) -> None:
        self._cloudwatch = cloudwatch
        self._lookback = lookback

    def write_minutes(self, tables: Sequence[str], now: datetime) -> dict[str, list[datetime]]:
        series: dict[str, MetricTypeDef] = {}
        owners: dict[str, str] = {}
        for index, table in enumerate(dict.fromkeys(tables)):
            for kind, metric in (("w", "ConsumedWriteCapacityUnits"), ("t", "TimeToLiveDeletedItemCount")):
                query_id = f"{kind}{index}"
                owners[query_id] = table
                series[query_id] = _metric("AWS/DynamoDB", metric, TableName=table)
        points = metric_points(self._cloudwatch, series, "Sum", now - self._lookback, now + CURRENT_MINUTE)
        minutes: dict[str, set[datetime]] = {table: set() for table in tables}
        for query_id, values in points.items():
            minutes[owners[query_id]].update(stamp for stamp, value in values if value > 0)
        return {table: sorted(found) for table, found in minutes.items()}


def _metric(namespace: str, name: str, **dimensions: str) -> MetricTypeDef:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
    }


def metric_points(
    cloudwatch: CloudWatchClient,
    series: dict[str, MetricTypeDef],
    stat: str,
    start: datetime,
    end: datetime,
    *,
    period: timedelta = timedelta(minutes=1),
) -> dict[str, list[tuple[datetime, float]]]:
    """Per-period values of each series (query id -> [(timestamp, value)]), in batched calls."""
    seconds = int(period.total_seconds())
    found: dict[str, list[tuple[datetime, float]]] = {}
    ids = list(series)
    for first in range(0, len(ids), METRIC_QUERIES_PER_CALL):
        queries: list[MetricDataQueryTypeDef] = [
            {
                "Id": qid,
                "MetricStat": {"Metric": series[qid], "Period": seconds, "Stat": stat},
                "ReturnData": True,
            }
            for qid in ids[first : first + METRIC_QUERIES_PER_CALL]
        ]
        pages = cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end
        )
        with aws_errors():
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    stamps = [s.astimezone(UTC) for s in result.get("Timestamps", [])]
                    found.setdefault(result["Id"], []).extend(
                        zip(stamps, result.get("Values", []), strict=False)
                    )
    return found
