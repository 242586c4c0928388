"""The restore functions' environments (read once per invocation with `from_env()`)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from dynamodb_dr.core.config import StackSettings


class RestoreSettings(StackSettings):
    """The restore step function: where to notify, and the CDC archive used for catch-up and checks."""

    restore_topic_arn: str | None = Field(default=None, pattern=r"^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
    archive_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    # The tool's own stream reader, not counted among a table's other stream consumers.
    cdc_archiver_function: str | None = Field(default=None, max_length=140)
    # Hard limit of the wait for DynamoDB's restores (a request may set its own).
    restore_time_limit_hours: int = Field(default=24, ge=1, le=168)

    @field_validator("restore_topic_arn", "archive_bucket", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None


class PointerSettings(StackSettings):
    """The pointer function (the only writer of live-table pointers, and of old tables' fences)."""

    data_key_arn: str | None = Field(default=None, pattern=r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/[\w-]+$")
    # Roles the fence on an old table does not deny (the tool's own).
    tool_role_arns: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("data_key_arn", mode="before")
    @classmethod
    def _no_key_is_none(cls, value: object) -> object:  # names must not shadow StackSettings' validators
        return value or None

    @field_validator("tool_role_arns", mode="before")
    @classmethod
    def _roles_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(arn.strip() for arn in value.split(",") if arn.strip())
        return value

    @field_validator("tool_role_arns")
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not re.match(r"^arn:[a-z-]+:iam::\d{12}:role/[\w+=,.@/-]+$", arn):
                raise ValueError(f"not a role ARN: {arn[:100]!r}")
        return arns
