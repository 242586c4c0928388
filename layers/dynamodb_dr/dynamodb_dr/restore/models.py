"""The restore request (operator input) and the plan every later step works from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN, TABLE_NAME_PATTERN
from dynamodb_dr.restore.estimate import ValidationEstimate

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
)


class TableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    logical: str
    target: str | None = None

    @field_validator("logical")
    @classmethod
    def _logical(cls, value: str) -> str:
        if not LOGICAL_NAME_PATTERN.match(value):
            raise ValueError(f"invalid logical table name {value!r}")
        return value

    @model_validator(mode="after")
    def _target(self) -> TableRequest:
        if self.target is not None:
            if not TABLE_NAME_PATTERN.match(self.target):
                raise ValueError(f"invalid target table name {self.target!r}")
            if not self.target.startswith(f"{self.logical}-dr-"):
                raise ValueError(f"target must be named {self.logical}-dr-<suffix>, got {self.target!r}")
        return self


class ExpectedFigures(BaseModel):
    """What a restored table must hold, when known (from a drill, an export or an audit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_count: int | None = Field(default=None, ge=0)
    checksum: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class ValidationThresholds(BaseModel):
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


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    execution: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")


class RestoreRequest(BaseModel):
    """What an operator starts the state machine with (see events/restore-*.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: tuple[TableRequest, ...] = Field(default=(), max_length=25)
    restore_time: AwareDatetime | None = None
    use_latest: bool = False
    cutover: CutoverMode = "approval"
    validation: ValidationThresholds = ValidationThresholds()
    catch_up: bool = False
    on_failure: FailurePolicy = "keep"
    accept_setting_differences: tuple[str, ...] = ()
    restore_timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    rollback: RollbackRequest | None = None

    @field_validator("restore_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value else None

    @field_validator("accept_setting_differences")
    @classmethod
    def _known_settings(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {list(SETTING_NAMES)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> RestoreRequest:
        if self.rollback is not None:
            if self.tables or self.restore_time or self.use_latest:
                raise ValueError("a rollback request takes only `rollback`")
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
            raise ValueError(f"validation.expected names tables not being restored: {unknown}")
        return self


class PlannedTable(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    logical: str
    source: str
    source_arn: str
    target: str


class PollPlan(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    interval_seconds: int
    max_attempts: int


class Plan(BaseModel):
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
    validation: ValidationThresholds = ValidationThresholds()
    poll: PollPlan = PollPlan(interval_seconds=30, max_attempts=1)
    rollback_of: str | None = None
    rto_minutes: int = 60
    validation_estimate: ValidationEstimate = ValidationEstimate()
