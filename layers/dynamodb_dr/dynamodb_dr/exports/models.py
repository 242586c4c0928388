"""What one export run works with: the tick, the function's settings, its adapters, its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.exports.api import ChainIndex, DynamoExports, Notifier
from dynamodb_dr.exports.chain import ExportChainStore

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
ExportTask = Literal["export-full", "export-incremental"]


class ExportTick(ScheduleTick):
    task: ExportTask


class ExportSettings(StackSettings):
    """The export function's environment."""

    export_bucket: str = Field(min_length=3)
    export_prefix: str = "exports"
    export_kms_key_id: str | None = None
    export_topic_arn: str | None = None

    @field_validator("export_prefix", mode="before")
    @classmethod
    def _bare_prefix(cls, value: object) -> object:
        return (value.strip("/") or "exports") if isinstance(value, str) else value

    @field_validator("export_kms_key_id", "export_topic_arn", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None


@dataclass
class ExportDependencies:
    registry: TableRegistry
    dynamo: DynamoControl
    exports: DynamoExports
    store: ExportChainStore
    index: ChainIndex
    notifier: Notifier


@dataclass
class TableExportResult:
    logical_name: str
    live_table: str | None = None
    action: str = "skipped"  # started-full | started-incremental | exists | waiting | window-too-short
    started: str | None = None
    window: tuple[str | None, str] | None = None
    gap: bool = False
    tracked: dict[str, str] = field(default_factory=dict)  # sk -> COMPLETED | FAILED
    in_progress: list[str] = field(default_factory=list)
    failed_exports: list[str] = field(default_factory=list)
    age_minutes: dict[str, float] = field(default_factory=dict)  # FULL / INCREMENTAL
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ExportRunReport:
    task: str
    tick: str
    tables: list[TableExportResult]

    @property
    def failed_tables(self) -> list[str]:
        return [t.logical_name for t in self.tables if not t.ok]
