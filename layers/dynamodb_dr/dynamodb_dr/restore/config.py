"""The restore functions' environments (read once per invocation with `from_env()`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from dynamodb_dr.core.config import StackSettings


class RestoreSettings(StackSettings):
    """The restore step function: where to notify, and the CDC archive used for catch-up and checks."""

    restore_topic_arn: str | None = Field(default=None, pattern=r"^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
    archive_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

    @field_validator("restore_topic_arn", "archive_bucket", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None


class PointerSettings(StackSettings):
    """The pointer function (the only writer of live-table pointers)."""
