"""Stream follower: keep the archiver's event source mappings on each protected live table.

For every protected table it resolves the live physical table (SSM pointer), makes sure that
table's stream is on with NEW_AND_OLD_IMAGES (a restored table has none), and creates the
archiver's mapping on it. Mappings on streams that no longer exist (table deleted, stream turned
off and on) are deleted; a mapping on a table that is still there but no longer live keeps
draining its late writes until that table is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field

from dynamodb_dr.cdc.timeline import TimelineRecorder
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.errors import DynamoDbDrError, StreamReadersExceeded, StreamViewMismatch
from dynamodb_dr.core.registry import TableRegistry

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_lambda import LambdaClient

STREAM_VIEW: Final = "NEW_AND_OLD_IMAGES"
# AWS advises at most two simultaneous readers per stream shard; more are throttled.
MAX_STREAM_READERS: Final = 2


class FollowerSettings(StackSettings):
    """The stream follower function's environment: which function to map and how."""

    archiver_function: str = Field(min_length=1)
    archive_bucket: str = Field(min_length=3)  # where the live-table history is copied
    on_failure_arn: str = Field(pattern=r"^arn:")
    cdc_batch_size: int = Field(default=1000, ge=1, le=10_000)
    cdc_batching_window_seconds: int = Field(default=5, ge=0, le=300)
    cdc_max_retry_attempts: int = Field(default=10, ge=-1, le=10_000)
    cdc_max_record_age_seconds: int = Field(default=86_400, ge=-1, le=604_800)

    def mapping_config(self) -> dict[str, Any]:
        return {
            "BatchSize": self.cdc_batch_size,
            "MaximumBatchingWindowInSeconds": self.cdc_batching_window_seconds,
            "MaximumRetryAttempts": self.cdc_max_retry_attempts,
            "MaximumRecordAgeInSeconds": self.cdc_max_record_age_seconds,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": self.on_failure_arn}},
        }


@dataclass
class TableFollow:
    logical_name: str
    live_table: str | None = None
    stream_arn: str | None = None
    action: str = "none"  # none | created | stream-enabled+created | error
    timeline_versions_recorded: int = 0
    error: str | None = None


@dataclass
class FollowReport:
    tables: list[TableFollow] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # stream ARNs no longer followed
    draining: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [t.logical_name for t in self.tables if t.error]


class StreamFollower:
    def __init__(
        self,
        tables: Sequence[str],
        registry: TableRegistry,
        dynamodb: DynamoDBClient,
        lambda_client: LambdaClient,
        settings: FollowerSettings,
        *,
        timeline: TimelineRecorder,
    ) -> None:
        self._tables = tuple(tables)
        self._registry = registry
        self._dynamodb = dynamodb
        self._lambda = lambda_client
        self._settings = settings
        self._timeline = timeline

    def sync(self) -> FollowReport:
        report = FollowReport()
        mappings = self._mappings()
        for logical in self._tables:
            follow = TableFollow(logical)
            report.tables.append(follow)
            try:
                pointer = self._registry.resolve(logical)
                follow.live_table = pointer.live_table
                # The live-table history reaches the archive before any change of a new live
                # table can: readers use it to tell live writes from an old table's late writes.
                follow.timeline_versions_recorded = self._timeline.record(logical, pointer.pointer_parameter)
                follow.stream_arn, enabled = self._ensure_stream(follow.live_table)
                if follow.stream_arn not in mappings:
                    self._check_readers(follow.stream_arn, follow.live_table)
                    self._create_mapping(follow.stream_arn)
                    follow.action = "stream-enabled+created" if enabled else "created"
            except DynamoDbDrError as exc:
                follow.action, follow.error = "error", f"{exc.code}: {exc}"
        wanted = {t.stream_arn for t in report.tables if t.stream_arn}
        unsure = bool(report.failed)
        for stream_arn, uuid in mappings.items():
            if stream_arn in wanted:
                continue
            if unsure or self._stream_is_current(stream_arn):
                report.draining.append(stream_arn)  # never delete while anything is unsure
                continue
            with aws_errors():
                self._lambda.delete_event_source_mapping(UUID=uuid)
            report.deleted.append(stream_arn)
        return report

    def _mappings(self) -> dict[str, str]:
        """Stream ARN -> mapping UUID of the archiver's DynamoDB mappings."""
        found: dict[str, str] = {}
        paginator = self._lambda.get_paginator("list_event_source_mappings")
        with aws_errors():
            for page in paginator.paginate(FunctionName=self._settings.archiver_function):
                for mapping in page.get("EventSourceMappings", []):
                    arn = mapping.get("EventSourceArn", "")
                    if ":dynamodb:" in arn and "/stream/" in arn:
                        found[arn] = mapping["UUID"]
        return found

    def _ensure_stream(self, table: str) -> tuple[str, bool]:
        with aws_errors(table=table):
            description = self._dynamodb.describe_table(TableName=table)["Table"]
        spec = description.get("StreamSpecification")
        if spec and spec.get("StreamEnabled") and description.get("LatestStreamArn"):
            if spec.get("StreamViewType") != STREAM_VIEW:
                raise StreamViewMismatch(
                    f"{table} streams {spec.get('StreamViewType')}, the archive needs {STREAM_VIEW}",
                    table=table,
                )
            return str(description["LatestStreamArn"]), False
        with aws_errors(table=table):
            updated = self._dynamodb.update_table(
                TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW}
            )["TableDescription"]
        return str(updated["LatestStreamArn"]), True

    def _check_readers(self, stream_arn: str, table: str) -> None:
        """Refuse to become a stream's third reader: every reader would be throttled."""
        paginator = self._lambda.get_paginator("list_event_source_mappings")
        with aws_errors(table=table):
            others = [
                m.get("FunctionArn", "")
                for page in paginator.paginate(EventSourceArn=stream_arn)
                for m in page.get("EventSourceMappings", [])
                if m.get("State") not in {"Disabled", "Deleting"}
            ]
        if len(others) >= MAX_STREAM_READERS:
            raise StreamReadersExceeded(
                f"the stream of {table} already has {len(others)} readers (AWS advises at most "
                f"{MAX_STREAM_READERS} per shard): the archiver is not added; move a reader off it",
                table=table,
            )

    def _create_mapping(self, stream_arn: str) -> None:
        try:
            with aws_errors():
                self._lambda.create_event_source_mapping(
                    FunctionName=self._settings.archiver_function,
                    EventSourceArn=stream_arn,
                    StartingPosition="TRIM_HORIZON",  # a new stream's first records are not missed
                    Enabled=True,
                    **self._settings.mapping_config(),
                )
        except DynamoDbDrError as exc:
            # Two runs may overlap (no reserved concurrency): Lambda refuses a second mapping of the
            # same stream and function, which is the one the other run just created.
            if error_code(exc.__cause__ or exc) != "ResourceConflictException":
                raise

    def _stream_is_current(self, stream_arn: str) -> bool:
        """Is this still the latest stream of an existing table (so its writes must be kept)?"""
        table = stream_arn.split(":", 5)[5].split("/")[1]
        try:
            with aws_errors(table=table):
                description = self._dynamodb.describe_table(TableName=table)["Table"]
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) == "ResourceNotFoundException":
                return False
            raise
        return bool(description.get("LatestStreamArn") == stream_arn)
