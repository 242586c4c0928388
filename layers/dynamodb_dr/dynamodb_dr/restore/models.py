"""The restore request (operator input) and the plan every later step works from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN, TABLE_NAME_PATTERN
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.restore.estimate import ValidationEstimate
from dynamodb_dr.restore.excerpts import excerpt

# Every (table, segment) leaves ~250 bytes of scan result in the execution state (256 KB max).
MAX_SEGMENTS = 400
CutoverMode = Literal["automatic", "approval", "none"]
FailurePolicy = Literal["keep", "delete"]
# Settings whose remaining difference may be accepted with `accept_setting_differences`.
SETTING_NAMES = (
    "billing_mode",
    "sse",
    "indexes",
    "pitr",
    "stream",
    "ttl",
    "tags",
    "deletion_protection",
    "autoscaling",
    "contributor_insights",
    "resource_policy",
    "kinesis_destinations",
    "alarms",
    # What a restore does not carry over and the tool cannot re-create: checked before cutover.
    "stream_consumers",
    "replicas",
    # Re-created by the tool (restore override, then UpdateTable).
    "on_demand_throughput",
    "warm_throughput",
)


class TableRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    logical: str
    target: str | None = None

    @field_validator("logical")
    @classmethod
    def _logical(cls, value: str) -> str:
        if not LOGICAL_NAME_PATTERN.match(value):
            raise ValueError(f"invalid logical table name {excerpt(value)}")
        return value

    @model_validator(mode="after")
    def _target(self) -> TableRequest:
        if self.target is not None:
            if not TABLE_NAME_PATTERN.match(self.target):
                raise ValueError(f"invalid target table name {excerpt(self.target)}")
            if not self.target.startswith(f"{self.logical}-dr-"):
                raise ValueError(
                    f"target must be named {self.logical}-dr-<suffix>, got {excerpt(self.target)}"
                )
        return self


class ExpectedFigures(DomainModel):
    """What a restored table must hold, when known (from a drill, an export or an audit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_count: int | None = Field(default=None, ge=0)
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class ValidationThresholds(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Parallel Scan segments per table; None: sized from the table's size (restore/estimate.py).
    segments: int | None = Field(default=None, ge=1, le=MAX_SEGMENTS)
    min_items: int = Field(default=0, ge=0)
    # Allowed difference to an expected item count, in percent (0 = exact).
    max_count_deviation_pct: float = Field(default=0.0, ge=0, le=100)
    # Compare with the source's current item count (off: a corruption may have deleted items).
    compare_source_count: bool = False
    max_source_deviation_pct: float = Field(default=10.0, ge=0, le=100)
    expected: dict[str, ExpectedFigures] = Field(default_factory=dict)
    # Keys sampled from the CDC archive that must match their last image before the restore
    # point (when the archive covers it); 0 turns the check off.
    archive_sample: int = Field(default=20, ge=0, le=1000)
    # Automatic cutover refuses a restored table holding fewer items than this share of the
    # source's reported item count (DynamoDB's ItemCount, refreshed about every six hours).
    min_source_ratio: float = Field(default=0.5, ge=0, le=1)
    # Automatic cutover refuses an empty restored table unless this is true.
    allow_empty: bool = False


class RollbackRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    execution: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")


class ResumeRequest(RollbackRequest):
    """Finish a failed or timed-out restore on the tables that execution restored."""


class RestoreRequest(DomainModel):
    """What an operator starts the state machine with (see events/restore-*.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: tuple[TableRequest, ...] = Field(default=(), max_length=25)
    restore_time: AwareDatetime | None = None
    use_latest: bool = False
    cutover: CutoverMode = "approval"
    validation: ValidationThresholds = Field(default_factory=ValidationThresholds)
    catch_up: bool = False
    on_failure: FailurePolicy = "keep"
    accept_setting_differences: tuple[str, ...] = ()
    # Hard limit of the wait for DynamoDB's restore (default: the RestoreTimeLimitHours parameter).
    restore_timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    rollback: RollbackRequest | None = None
    resume: ResumeRequest | None = None

    @field_validator("restore_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value else None

    @field_validator("accept_setting_differences")
    @classmethod
    def _known_settings(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown settings {excerpt(unknown, 200)}; known: {list(SETTING_NAMES)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> RestoreRequest:
        if self.rollback is not None:
            if self.tables or self.restore_time or self.use_latest or self.resume:
                raise ValueError("a rollback request takes only `rollback`")
            return self
        if self.resume is not None:
            if self.tables or self.restore_time or self.use_latest:
                raise ValueError("a resume request names no tables or time: they are the resumed run's")
            return self
        if not self.tables:
            raise ValueError("name at least one table in `tables`")
        logicals = [t.logical for t in self.tables]
        if len(set(logicals)) != len(logicals):
            raise ValueError("a table is named twice")
        if (self.restore_time is None) == (not self.use_latest):
            raise ValueError("give exactly one of `restore_time` or `use_latest: true`")
        if len(self.tables) * (self.validation.segments or 1) > MAX_SEGMENTS:
            raise ValueError(f"tables x validation.segments must stay within {MAX_SEGMENTS}")
        unknown = sorted(set(self.validation.expected) - set(logicals))
        if unknown:
            raise ValueError(f"validation.expected names tables not being restored: {excerpt(unknown, 200)}")
        targets = [t.target for t in self.tables if t.target]
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"two tables name the same target: {excerpt(repeated, 300)}")
        return self


class PlannedTable(DomainModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    logical: str
    source: str
    source_arn: str
    target: str


class PollPlan(DomainModel):
    """How long to wait for DynamoDB's restores: a growing interval (so the execution history stays
    far below Step Functions' 25,000 events even at the hard limit), an RTO alert point, a limit."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    first_interval_seconds: int = 30
    max_interval_seconds: int = 600
    growth: float = 0.1  # the next wait is this share of the time waited so far, within the bounds
    limit_seconds: int = 86_400
    rto_alert_seconds: int = 1_800  # restores still running then: the RTO will be missed

    def next_wait(self, elapsed: float) -> int:
        wait = min(self.max_interval_seconds, max(self.first_interval_seconds, self.growth * elapsed))
        return max(1, int(min(wait, self.limit_seconds - elapsed)))


class TableEstimate(DomainModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    logical: str
    size_bytes: int | None = None
    restore_seconds: int
    validation_seconds: int
    basis: str  # how the restore time was estimated


class Estimate(DomainModel):
    """Expected durations, stated before anything starts, and whether they fit the RTO."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tables: tuple[TableEstimate, ...] = ()
    restore_seconds: int = 0  # the slowest table (restores run in parallel)
    validation_seconds: int = 0
    total_seconds: int = 0
    rto_seconds: int = 3_600
    fits_rto: bool = True


class Plan(DomainModel):
    """The validated request, resolved: physical sources, targets, one restore time."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mode: Literal["restore", "rollback"]
    execution: str
    started_at: datetime
    restore_time: datetime | None = None
    tables: tuple[PlannedTable, ...] = ()
    cutover: CutoverMode = "approval"
    catch_up: bool = False
    on_failure: FailurePolicy = "keep"
    accept_setting_differences: tuple[str, ...] = ()
    validation: ValidationThresholds = Field(default_factory=ValidationThresholds)
    poll: PollPlan = Field(default_factory=PollPlan)
    rollback_of: str | None = None
    rto_minutes: int = 60
    validation_estimate: ValidationEstimate = Field(default_factory=ValidationEstimate)
    estimate: Estimate | None = None  # restore + validation durations against the RTO
    # A resumed run picks up the restored tables of `resumed_from` (no new restore).
    resume: bool = False
    resumed_from: str | None = None
    # The execution whose tags mark the target tables as its own (a resumed run's: the original).
    owner: str | None = None

    @property
    def table_owner(self) -> str:
        return self.owner or self.execution


def plan_of(event: dict[str, Any]) -> Plan:
    if not isinstance(event.get("plan"), dict):
        raise InvalidInput("event has no plan")
    return Plan.model_validate(event["plan"])
