"""Repair requests (operator input: CLI or console JSON), settings, and the stored plan's records.

A repair undoes the changes a logical table's live table received in a window [from, to): every
affected key is written back to its image before its first selected change in the window. Three
requests start the repair state machine:

    {"table": "customers", "from": "...Z", "to": "...Z", "dry_run": true, ...filters}
    {"resume": "<repair id>"}      continue an interrupted repair from its checkpoint
    {"undo": "<repair id>"}        put every key a repair wrote back to its state before it
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN, StackSettings
from dynamodb_dr.core.errors import RepairRequestInvalid
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.repair.filters import key_from_json, parse_condition

EventType = Literal["INSERT", "MODIFY", "REMOVE"]
ConflictPolicy = Literal["skip", "overwrite"]
REPAIR_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
MAX_KEYS = 10_000
# How far ahead of this clock a window may end (clocks differ a little between machines).
CLOCK_SKEW = timedelta(seconds=5)


class RepairRequest(DomainModel):
    """Undo a window's changes of one table (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    table: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    events: tuple[EventType, ...] = ("INSERT", "MODIFY", "REMOVE")
    where: str | None = Field(default=None, max_length=2000)  # condition on the change's new image
    keys: tuple[dict[str, Any], ...] | None = Field(default=None, max_length=MAX_KEYS)
    include_ttl: bool = False  # undo DynamoDB's TTL deletions too (resurrects expired items)
    conflicts: ConflictPolicy = "skip"  # keys changed again after the window (or mixed)
    max_write_share: float = Field(default=0.5, gt=0, le=1)  # of the table's write capacity
    dry_run: bool = False
    sample_size: int = Field(default=20, ge=0, le=100)

    @field_validator("table")
    @classmethod
    def _logical(cls, value: str) -> str:
        if not LOGICAL_NAME_PATTERN.match(value):
            raise ValueError(f"invalid logical table name {value!r}")
        return value

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("events")
    @classmethod
    def _some_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one event type (INSERT, MODIFY, REMOVE)")
        return tuple(dict.fromkeys(value))

    @field_validator("where")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_condition(value)  # RepairRequestInvalid names the position
        return value

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("keys is a non-empty list of keys")
        return tuple(key_from_json(key) for key in value)

    @model_validator(mode="after")
    def _window(self) -> RepairRequest:
        if self.end < self.start:
            raise ValueError(f"to ({self.end.isoformat()}) is before from ({self.start.isoformat()})")
        if self.end == self.start:
            raise ValueError("the window is empty (from equals to)")
        return self

    def check_time(self, now: datetime) -> None:
        """A window that has not happened yet cannot be repaired."""
        if self.end > now + CLOCK_SKEW:
            raise RepairRequestInvalid(
                f"the window ends in the future ({self.end.isoformat()} > now {now.isoformat()}): "
                "a repair undoes changes already made",
                table=self.table,
            )


class ResumeRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resume: str = Field(pattern=REPAIR_ID_PATTERN)


class UndoRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    undo: str = Field(pattern=REPAIR_ID_PATTERN)
    dry_run: bool = False
    max_write_share: float = Field(default=0.5, gt=0, le=1)


AnyRequest = RepairRequest | ResumeRequest | UndoRequest


def parse_request(raw: Any) -> AnyRequest:
    """The state machine's input as one of the three requests; one-line RepairRequestInvalid."""
    if not isinstance(raw, dict):
        raise RepairRequestInvalid("a repair request is a JSON object")
    model: type[BaseModel] = (
        ResumeRequest if "resume" in raw else UndoRequest if "undo" in raw else RepairRequest
    )
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except RepairRequestInvalid:
        raise
    except ValidationError as exc:
        raise RepairRequestInvalid(f"invalid repair request: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "request"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)[:600]


class RepairSettings(StackSettings):
    """The repair function's environment."""

    archive_bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    repair_topic_arn: str | None = Field(default=None, pattern=r"^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
    cdc_failure_queue_url: str | None = Field(default=None, pattern=r"^https?://")
    repair_state_machine_arn: str | None = Field(default=None, pattern=r"^arn:")
    repair_workers: int = Field(default=16, ge=1, le=128)
    repair_lanes: int = Field(default=8, ge=1, le=40)  # parallel apply Lambdas (the ASL's Map)
    backup_settle_seconds: int = Field(default=65, ge=0, le=600)
    stream_check_records: int = Field(default=100_000, ge=0, le=2_000_000)
    # One plan holds the window's changes in memory (~8 KB a change of a ~1 KB item, both images):
    # 250,000 fit the function's 3,008 MB with room to spare.
    repair_max_changes: int = Field(default=250_000, ge=1, le=2_000_000)

    @field_validator("repair_topic_arn", "cdc_failure_queue_url", "repair_state_machine_arn", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None


# ---------------------------------------------------------------- stored plan records


class PlanEntry(DomainModel):
    """One key to write: put `target` (or delete when None), only while the item is `guard`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: dict[str, Any]  # key (wire form)
    t: dict[str, Any] | None  # target image: the item before its first selected change
    g: dict[str, Any] | None  # guard: the item as the plan read it (None: absent)
    x: tuple[str, ...] = ()  # other attribute names the key had in the window (must stay absent)
    u: int = 1  # write capacity units the write costs


class Lane(DomainModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lane: int
    first_chunk: int
    chunks: int


class PlanHeader(DomainModel):
    """Everything about a stored plan except its entries (repairs/table=<t>/<id>/plan.json)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    repair_id: str
    mode: Literal["repair", "undo"]
    table: str
    live_table: str
    created_at: datetime
    request: dict[str, Any]
    undo_of: str | None = None
    window: dict[str, str] = Field(default_factory=dict)
    entries: int = 0
    chunk_size: int = 250
    chunks: int = 0
    lanes: tuple[Lane, ...] = ()
    write_units: int = 0
    units_per_second: float = 0.0  # the share of the table's write capacity the apply may use
    summary: dict[str, Any] = Field(default_factory=dict)


class LaneProgress(DomainModel):
    """A lane's checkpoint: chunks before `next_chunk` are done, `inflight` may be half done."""

    model_config = ConfigDict(extra="ignore")

    lane: int
    next_chunk: int
    inflight: int | None = None
    invocations: int = 0
    written: int = 0
    already: int = 0
    changed: int = 0
    throttled: int = 0
    retries: int = 0
    first_write: datetime | None = None
    last_write: datetime | None = None
    done: bool = False


class ChunkOutcome(DomainModel):
    """What happened to each entry of one chunk (indexes within the chunk)."""

    model_config = ConfigDict(extra="ignore")

    chunk: int
    written: list[int] = Field(default_factory=list)
    already: list[int] = Field(default_factory=list)
    changed: list[int] = Field(default_factory=list)  # changed since the plan: never overwritten
