"""Stream follower: keep the archiver's event source mappings on each protected live table.

For every protected table it resolves the live physical table (SSM pointer), makes sure that
table's stream is on with NEW_AND_OLD_IMAGES (a restored table has none, and someone may turn it
off), and keeps the archiver's mapping on it: created when missing (unless the stream already has
the two readers AWS advises at most), re-enabled when disabled, its settings put back when they
drifted. What it cannot fix it reports (a mapping whose last
processing result is a problem, a stream that had been off: its changes meanwhile are in no
stream). It records since when the archive holds every change of each stream (cdc/coverage.py).

A mapping on a table that is still there but no longer live keeps draining its late writes until
that table is deleted; a mapping on a stream that no longer is its table's stream (table deleted,
stream turned off) keeps draining for the stream's retention, then is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field

from dynamodb_dr.cdc.coverage import (
    STREAM_RETENTION,
    TRIM_HORIZON_REACH,
    CoverageStore,
    StreamId,
    coverage_since_after_create,
)
from dynamodb_dr.cdc.timeline import TimelineRecorder
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.errors import DynamoDbDrError, StreamReadersExceeded, StreamViewMismatch
from dynamodb_dr.core.registry import TableRegistry

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_lambda.type_defs import EventSourceMappingConfigurationTypeDef

STREAM_VIEW: Final = "NEW_AND_OLD_IMAGES"
SETTLED_STATES: Final = frozenset({"Enabled", "Disabled"})  # states an update is accepted in
OFF_STATES: Final = frozenset({"Disabled", "Disabling"})
# AWS advises at most two simultaneous readers per stream shard; more are throttled.
MAX_STREAM_READERS: Final = 2


class FollowerSettings(StackSettings):
    """The stream follower function's environment: which function to map and how."""

    archiver_function: str = Field(min_length=1)
    archive_bucket: str = Field(min_length=3)  # live-table history and coverage records
    on_failure_arn: str = Field(pattern=r"^arn:")
    cdc_batch_size: int = Field(default=1000, ge=1, le=10_000)
    cdc_batching_window_seconds: int = Field(default=5, ge=0, le=300)
    # -1: a batch the archiver cannot archive is retried until it is MaximumRecordAge old, so a
    # broken archiver holds its shard (and the IteratorAge alarm fires) instead of dropping
    # batches to the failure queue after a few quick retries.
    cdc_max_retry_attempts: int = Field(default=-1, ge=-1, le=10_000)
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


@dataclass(frozen=True)
class Mapping:
    """One of the archiver's DynamoDB stream mappings, as ListEventSourceMappings shows it."""

    uuid: str
    stream_arn: str
    state: str
    last_result: str | None
    last_modified: datetime | None
    settings: dict[str, Any]

    @classmethod
    def of(cls, listed: EventSourceMappingConfigurationTypeDef) -> Mapping:
        settings = {key: listed.get(key) for key in _COMPARED}
        settings["DestinationConfig"] = {
            "OnFailure": {
                "Destination": listed.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            }
        }
        modified = listed.get("LastModified")
        return cls(
            uuid=listed["UUID"],
            stream_arn=listed.get("EventSourceArn", ""),
            state=listed.get("State", "?"),
            last_result=listed.get("LastProcessingResult"),
            last_modified=modified.astimezone(UTC) if isinstance(modified, datetime) else None,
            settings=settings,
        )

    @property
    def problem(self) -> str | None:
        """Lambda's own word that the mapping is failing (e.g. "PROBLEM: Function call failed")."""
        result = self.last_result or ""
        return result if result.upper().startswith("PROBLEM") else None


_COMPARED: Final = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "FunctionResponseTypes",
)


@dataclass
class TableFollow:
    logical_name: str
    live_table: str | None = None
    stream_arn: str | None = None
    # none | created | stream-enabled+created | re-enabled | updated | pending
    action: str = "none"
    stream_gap: bool = False  # the live stream had been turned off: changes meanwhile are lost
    problem: str | None = None  # what the mapping reports and the follower cannot fix
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

    @property
    def stream_gaps(self) -> list[str]:
        return [t.logical_name for t in self.tables if t.stream_gap]

    @property
    def problems(self) -> list[str]:
        return [t.logical_name for t in self.tables if t.problem]

    @property
    def repaired(self) -> int:
        return sum(1 for t in self.tables if t.action in {"re-enabled", "updated"})


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
        coverage: CoverageStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tables = tuple(tables)
        self._registry = registry
        self._dynamodb = dynamodb
        self._lambda = lambda_client
        self._settings = settings
        self._timeline = timeline
        self._coverage = coverage
        self._clock = clock

    def sync(self) -> FollowReport:
        now = self._clock()
        report = FollowReport()
        mappings = self._mappings()
        for logical in self._tables:
            follow = TableFollow(logical)
            report.tables.append(follow)
            try:
                self._follow(follow, mappings, now)
            except DynamoDbDrError as exc:
                follow.action, follow.error = "error", f"{exc.code}: {exc}"
        wanted = {t.stream_arn for t in report.tables if t.stream_arn}
        unsure = bool(report.failed)
        for stream_arn, mapping in mappings.items():
            if stream_arn in wanted:
                continue
            if unsure or self._stream_is_current(stream_arn) or not self._retired_long_ago(stream_arn, now):
                report.draining.append(stream_arn)  # never delete while anything is unsure
                continue
            with aws_errors():
                self._lambda.delete_event_source_mapping(UUID=mapping.uuid)
            report.deleted.append(stream_arn)
        return report

    def _follow(self, follow: TableFollow, mappings: dict[str, Mapping], now: datetime) -> None:
        pointer = self._registry.resolve(follow.logical_name)
        follow.live_table = pointer.live_table
        # The live-table history reaches the archive before any change of a new live table can:
        # readers use it to tell live writes from an old table's late writes.
        follow.timeline_versions_recorded = self._timeline.record(
            follow.logical_name, pointer.pointer_parameter
        )
        follow.stream_arn, enabled = self._ensure_stream(follow.live_table)
        stream = StreamId.from_arn(follow.stream_arn)
        # A table followed before whose stream had to be turned back on: whatever was written
        # while it was off is in no stream, so the archive has a gap there.
        follow.stream_gap = enabled and any(
            StreamId.from_arn(arn).physical_table == follow.live_table for arn in mappings
        )
        mapping = mappings.get(follow.stream_arn)
        if mapping is None:
            self._check_readers(follow.stream_arn, follow.live_table)
            self._create_mapping(follow.stream_arn)
            since = coverage_since_after_create(stream, now)
            self._coverage.record_coverage(stream, since, "mapping created (TRIM_HORIZON)", now)
            follow.action = "stream-enabled+created" if enabled else "created"
            return
        follow.problem = mapping.problem
        follow.action = self._keep(mapping, stream, now)

    def _keep(self, mapping: Mapping, stream: StreamId, now: datetime) -> str:
        """Put an existing mapping back to enabled with the stack's settings."""
        if self._coverage.coverage_since(stream) is None:
            # Found without a record (made before the follower kept them): vouch only from now.
            self._coverage.record_coverage(stream, now, "mapping found without a coverage record", now)
        if mapping.state not in SETTLED_STATES:
            return "pending"  # Creating, Enabling, Updating, Disabling or Deleting: next run
        wanted = self._settings.mapping_config()
        if mapping.state in OFF_STATES:
            self._update(mapping.uuid, Enabled=True, **wanted)
            paused_since = mapping.last_modified or now
            if now - paused_since > TRIM_HORIZON_REACH:
                # Off for about the stream's retention: records may have been trimmed unread.
                since = now - TRIM_HORIZON_REACH
                self._coverage.record_coverage(stream, since, "mapping re-enabled after a long pause", now)
            return "re-enabled"
        if any(mapping.settings.get(key) != value for key, value in wanted.items()):
            self._update(mapping.uuid, **wanted)
            return "updated"
        return "none"

    def _update(self, uuid: str, **changes: Any) -> None:
        with aws_errors():
            self._lambda.update_event_source_mapping(UUID=uuid, **changes)

    def _mappings(self) -> dict[str, Mapping]:
        """Stream ARN -> the archiver's DynamoDB mapping on it."""
        found: dict[str, Mapping] = {}
        paginator = self._lambda.get_paginator("list_event_source_mappings")
        with aws_errors():
            for page in paginator.paginate(FunctionName=self._settings.archiver_function):
                for listed in page.get("EventSourceMappings", []):
                    arn = listed.get("EventSourceArn", "")
                    if ":dynamodb:" in arn and "/stream/" in arn:
                        found[arn] = Mapping.of(listed)
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

    def _retired_long_ago(self, stream_arn: str, now: datetime) -> bool:
        """A replaced stream stays readable for its retention: drain it that long, then let go."""
        stream = StreamId.from_arn(stream_arn)
        retired = self._coverage.retired_at(stream)
        if retired is None:
            self._coverage.record_retired(stream, now)
            return False
        return now - retired >= STREAM_RETENTION

    def _stream_is_current(self, stream_arn: str) -> bool:
        """Is this still the latest stream of an existing table (so its writes must be kept)?"""
        table = StreamId.from_arn(stream_arn).physical_table
        try:
            with aws_errors(table=table):
                description = self._dynamodb.describe_table(TableName=table)["Table"]
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) == "ResourceNotFoundException":
                return False
            raise
        spec = description.get("StreamSpecification")
        enabled = bool(spec and spec.get("StreamEnabled"))
        return bool(description.get("LatestStreamArn") == stream_arn and enabled)
