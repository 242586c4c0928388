"""The posture report: per table, what each recovery source offers and whether the objectives hold."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dynamodb_dr.core.model import DomainModel

TableStatus = Literal["ok", "at_risk", "unknown", "failed"]


class PitrPosture(DomainModel):
    enabled: bool
    earliest_restorable: datetime | None = None
    latest_restorable: datetime | None = None
    lag_seconds: float | None = None  # now - LatestRestorableDateTime
    window_days: float | None = None


class BackupPosture(DomainModel):
    newest: datetime | None = None
    age_seconds: float | None = None
    available: int = 0
    tool_backups: int = 0
    last_run_failed: bool | None = None


class ExportPosture(DomainModel):
    age_seconds: dict[str, float] = Field(default_factory=dict)  # export type -> age of newest
    newest_point: datetime | None = None  # newest point a FULL (+ incrementals) restores to
    point_age_seconds: float | None = None
    failures_since_success: int = 0
    gaps: int = 0
    inflight: int = 0
    has_base: bool = False


class CdcPosture(DomainModel):
    """The CDC archive of the live table (posture/freshness.py says how each field is read)."""

    newest_object: datetime | None = None
    lag_seconds: float | None = None  # now - newest archive object (idle tables look stale too)
    dead_letters: int | None = None  # shared failure queue depth (all tables)
    dead_letters_unread: int = 0  # queue messages that name no stream (every table's reach unsure)
    stream_arn: str | None = None  # the live table's latest stream
    mapping_state: str | None = None  # the archiver's mapping on it (None: no mapping)
    mapping_lag_seconds: float | None = None  # its IteratorAge, latest minute (None: not delivering)
    newest_change: datetime | None = None  # newest change archived from the live stream
    covered_since: datetime | None = None  # every change of the live stream since then is archived
    reach: datetime | None = None  # newest change with no gap behind it back to covered_since
    reach_age_seconds: float | None = None
    replayable_from: str | None = None  # the recovery source the archive replays onto to its reach
    unarchived_writes_since: datetime | None = None  # writes old enough to be archived, and are not
    risks: list[str] = Field(default_factory=list)  # "<code>: <why>"; empty: fresh, or quiet

    @property
    def at_risk(self) -> bool:
        return bool(self.risks)


class ReplicaPosture(DomainModel):
    region: str
    status: str
    latency_ms: float | None = None


class RtoSample(DomainModel):
    tick: str
    status: str
    measured_seconds: float | None = None
    ended_at: datetime | None = None


class RtoPosture(DomainModel):
    latest_seconds: float | None = None
    latest_failed: bool = False
    history: list[RtoSample] = Field(default_factory=list)


class TablePosture(DomainModel):
    logical_name: str
    live_table: str | None = None
    status: TableStatus = "unknown"
    error: str | None = None
    rpo_objective_seconds: int
    rto_objective_seconds: int
    pitr: PitrPosture | None = None
    backups: BackupPosture | None = None
    exports: ExportPosture | None = None
    cdc: CdcPosture | None = None
    replicas: list[ReplicaPosture] | None = None
    rto: RtoPosture | None = None
    worst_case_rpo_seconds: float | None = None
    rpo_source: str | None = None  # the recovery source giving the newest point
    rpo_met: bool | None = None
    rto_met: bool | None = None
    unknown: dict[str, str] = Field(default_factory=dict)  # check -> why it could not be made

    @property
    def failed_checks(self) -> int:
        return 1 if self.status == "failed" else len(self.unknown)


class PostureReport(DomainModel):
    generated_at: datetime
    tables: list[TablePosture]
    cdc_dead_letters: int | None = None

    @property
    def failed_tables(self) -> list[str]:
        return [t.logical_name for t in self.tables if t.status == "failed"]
