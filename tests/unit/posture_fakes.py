"""Fake posture sources: one object standing in for every view, per-table behaviour in dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.core.config import ResolvedPolicies, Settings, TablePolicy
from dynamodb_dr.core.dynamo import PitrStatus
from dynamodb_dr.core.registry import ProtectedTable
from dynamodb_dr.posture.assess import PostureReport, PostureSources, assess_all
from dynamodb_dr.posture.cdc_sources import (
    ArchiverMapping,
    LagReading,
    MappingLags,
    StreamArchive,
)
from dynamodb_dr.posture.dead_letters import DeadLetterGap, DeadLetters
from dynamodb_dr.posture.freshness import CdcActivitySources
from dynamodb_dr.posture.rto_history import RehearsalRecord
from dynamodb_dr.posture.sources import BackupSummaryView, ExportSummaryView

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = TablePolicy(rpo_minutes=15, rto_minutes=60)
LABEL = "2026-11-01T00:00:00.000"


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def stream_arn(table: str, label: str = LABEL) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/{label}"


def streaming(table: str, label: str = LABEL, enabled: bool = True) -> dict[str, Any]:
    spec = (
        {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        if enabled
        else {"StreamEnabled": False}
    )
    return {"TableName": table, "LatestStreamArn": stream_arn(table, label), "StreamSpecification": spec}


def dead_letter(
    table: str, first: datetime, last: datetime, records: int = 3, label: str = LABEL
) -> DeadLetterGap:
    return DeadLetterGap(stream_arn(table, label), "shardId-1", first, last, records)


@dataclass
class Fakes:
    """Defaults: every table streams, the archiver maps its stream (enabled), nothing was written,
    the archive is empty and its coverage starts at the stream's creation."""

    pitr: dict[str, PitrStatus | Exception] = field(default_factory=dict)
    describe: dict[str, dict[str, Any] | Exception] = field(default_factory=dict)
    backups: dict[str, BackupSummaryView | Exception] = field(default_factory=dict)
    exports: dict[str, ExportSummaryView | Exception] = field(default_factory=dict)
    cdc: dict[str, datetime | None] = field(default_factory=dict)  # newest object
    newest_change: dict[str, datetime | None] = field(default_factory=dict)
    covered_since: dict[str, datetime | None] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[RehearsalRecord]] = field(default_factory=dict)
    dead_letters: int | Exception = 0
    gaps: list[DeadLetterGap] = field(default_factory=list)
    mapping_state: dict[str, str | None] = field(default_factory=dict)  # None: no mapping
    last_result: dict[str, str] = field(default_factory=dict)
    lag: dict[str, float] = field(default_factory=dict)  # seconds, per table's mapping
    function_lag: float | None = None
    dropped_until: datetime | None = None  # DestinationDeliveryFailures' latest hour's end
    writes: dict[str, list[datetime]] = field(default_factory=dict)
    fleet_errors: dict[str, Exception] = field(default_factory=dict)  # mappings | lags | writes

    @staticmethod
    def _give(value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    # registry
    def resolve(self, logical: str) -> ProtectedTable:
        return ProtectedTable(logical, logical, f"/p/{logical}", pointer_exists=False)

    def policy_document(self) -> None:
        return None

    # dynamo
    def describe_table(self, table: str) -> dict[str, Any]:
        given = self._give(self.describe.get(table, {}))
        return {**streaming(table), **given}

    def pitr_status(self, table: str) -> PitrStatus:
        return self._give(self.pitr.get(table, PitrStatus(False, None, None, None)))  # type: ignore[no-any-return]

    # views
    def summary(self, logical: str, live: str | None = None) -> Any:
        source = self.backups if live is not None else self.exports
        default = (
            BackupSummaryView(None, 0, 0, None) if live is not None else ExportSummaryView({}, 0, 0, 0, False)
        )
        return self._give(source.get(logical, default))

    def stream_archive(self, logical: str, arn: str | None, now: datetime) -> StreamArchive:
        created = datetime.fromisoformat(LABEL).replace(tzinfo=UTC)
        return StreamArchive(
            self.cdc.get(logical),
            self.newest_change.get(logical),
            self.covered_since.get(logical, created),
        )

    def read(self) -> DeadLetters:
        depth = int(self._give(self.dead_letters))
        return DeadLetters(depth, tuple(self.gaps), max(0, depth - len(self.gaps)))

    def latency_ms(self, table: str, region: str, now: datetime) -> float | None:
        return self.latency.get(region)

    def history_of(self, logical: str) -> list[RehearsalRecord]:
        return self.history.get(logical, [])

    # CDC activity (fleet-wide)
    def by_stream(self) -> dict[str, ArchiverMapping]:
        self._give(self.fleet_errors.get("mappings"))
        mappings = {}
        for table in self._tables:
            state = self.mapping_state.get(table, "Enabled")
            if state is not None:
                mappings[stream_arn(table)] = ArchiverMapping(
                    f"uuid-{table}", stream_arn(table), state, self.last_result.get(table, "OK")
                )
        return mappings

    def lags(self, uuids: Any, now: datetime) -> MappingLags:
        self._give(self.fleet_errors.get("lags"))
        minute = now.replace(second=0, microsecond=0)
        by_uuid = {f"uuid-{table}": LagReading(minute, lag) for table, lag in self.lag.items()}
        function = None if self.function_lag is None else LagReading(minute, self.function_lag)
        return MappingLags(by_uuid, function, bool(by_uuid), self.dropped_until)

    def write_minutes(self, tables: Any, now: datetime) -> dict[str, list[datetime]]:
        self._give(self.fleet_errors.get("writes"))
        return {table: self.writes.get(table, []) for table in tables}

    _tables: tuple[str, ...] = ()


class _History:
    def __init__(self, fakes: Fakes) -> None:
        self.history = fakes.history_of


class _Exports:
    def __init__(self, fakes: Fakes) -> None:
        self.summary = fakes.summary


def run(fakes: Fakes, *tables: str, policy: TablePolicy = POLICY) -> PostureReport:
    settings = Settings(
        ssm_prefix="/dynamodb-dr/s", protected_tables=tables or ("customers",), state_table="state"
    )
    fakes._tables = settings.protected_tables
    sources = PostureSources(
        registry=fakes,  # type: ignore[arg-type]
        dynamo=fakes,  # type: ignore[arg-type]
        backups=fakes,  # type: ignore[arg-type]
        exports=_Exports(fakes),  # type: ignore[arg-type]
        cdc=fakes,  # type: ignore[arg-type]
        dead_letters=fakes,  # type: ignore[arg-type]
        replication=fakes,  # type: ignore[arg-type]
        rto=_History(fakes),  # type: ignore[arg-type]
        cdc_activity=CdcActivitySources(mappings=fakes, lags=fakes, writes=fakes),  # type: ignore[arg-type]
    )
    policies = ResolvedPolicies(policies=dict.fromkeys(settings.protected_tables, policy))
    return assess_all(settings, policies, sources, NOW)


def pitr_on(lag_seconds: float) -> PitrStatus:
    return PitrStatus(True, 35, ago(days=10), ago(seconds=lag_seconds))


def rehearsal(status: str, seconds: float | None, tick: str = "20261101T040000Z") -> RehearsalRecord:
    return RehearsalRecord(
        logical_name="customers",
        tick=tick,
        execution_name="e",
        target="customers-dr-rehearsal-1",
        status=status,
        started_at=ago(days=25),
        measured_seconds=seconds,  # type: ignore[arg-type]
    )
