"""Input models of the scheduled functions (EventBridge Scheduler target input)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN
from dynamodb_dr.core.model import DomainModel


class ScheduleTick(DomainModel):
    """One firing of a schedule.

    The template's schedules send `<aws.scheduler.scheduled-time>` as `scheduled_time`; it is the
    same for every retry of one firing, which is what makes a tick idempotent.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    scheduled_time: AwareDatetime
    execution_id: str | None = Field(default=None, max_length=200)
    attempt: int = Field(default=1, ge=1, le=1000)
    tables: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("scheduled_time")
    @classmethod
    def _utc_to_the_second(cls, value: datetime) -> datetime:
        return value.astimezone(UTC).replace(microsecond=0)

    @field_validator("tables")
    @classmethod
    def _names(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in names or ():
            if not LOGICAL_NAME_PATTERN.match(name):
                raise ValueError(f"invalid table name {name!r}")
        return names

    @property
    def tick_id(self) -> str:
        """Sortable UTC timestamp naming this tick, e.g. 20261126T030000Z."""
        return self.scheduled_time.strftime("%Y%m%dT%H%M%SZ")
