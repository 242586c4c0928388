"""Posture rules on fake sources: RPO over recovery sources, unknown is never met, failures isolated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamodb_dr.core.config import ResolvedPolicies, Settings, TablePolicy
from dynamodb_dr.core.dynamo import PitrStatus
from dynamodb_dr.core.errors import AccessDenied, TableNotFound, TransientAwsError
from dynamodb_dr.core.registry import ProtectedTable
from dynamodb_dr.posture.assess import PostureReport, PostureSources, assess_all
from dynamodb_dr.posture.metrics import aggregate_doc, table_docs
from dynamodb_dr.posture.rto_history import RehearsalRecord
from dynamodb_dr.posture.sources import BackupSummaryView, ExportSummaryView

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = TablePolicy(rpo_minutes=15, rto_minutes=60)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


@dataclass
class Fakes:
    """One object standing in for every source; per-table behaviour in dicts."""

    pitr: dict[str, PitrStatus | Exception] = field(default_factory=dict)
    describe: dict[str, dict[str, Any] | Exception] = field(default_factory=dict)
    backups: dict[str, BackupSummaryView | Exception] = field(default_factory=dict)
    exports: dict[str, ExportSummaryView | Exception] = field(default_factory=dict)
    cdc: dict[str, datetime | None] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[RehearsalRecord]] = field(default_factory=dict)
    dead_letters: int | Exception = 0

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
        return dict(self._give(self.describe.get(table, {"TableName": table})))

    def pitr_status(self, table: str) -> PitrStatus:
        return self._give(self.pitr.get(table, PitrStatus(False, None, None, None)))  # type: ignore[no-any-return]

    # views
    def summary(self, logical: str, live: str | None = None) -> Any:
        source = self.backups if live is not None else self.exports
        default = (
            BackupSummaryView(None, 0, 0, None) if live is not None else ExportSummaryView({}, 0, 0, 0, False)
        )
        return self._give(source.get(logical, default))

    def newest_object(self, logical: str, now: datetime) -> datetime | None:
        return self.cdc.get(logical)

    def depth(self) -> int:
        return int(self._give(self.dead_letters))

    def latency_ms(self, table: str, region: str, now: datetime) -> float | None:
        return self.latency.get(region)

    def history_of(self, logical: str) -> list[RehearsalRecord]:
        return self.history.get(logical, [])


class _History:
    def __init__(self, fakes: Fakes) -> None:
        self.history = fakes.history_of


class _Exports:
    def __init__(self, fakes: Fakes) -> None:
        self.summary = fakes.summary


def run(fakes: Fakes, *tables: str) -> PostureReport:
    settings = Settings(
        ssm_prefix="/dynamodb-dr/s", protected_tables=tables or ("customers",), state_table="state"
    )
    sources = PostureSources(
        registry=fakes,  # type: ignore[arg-type]
        dynamo=fakes,  # type: ignore[arg-type]
        backups=fakes,  # type: ignore[arg-type]
        exports=_Exports(fakes),  # type: ignore[arg-type]
        cdc=fakes,  # type: ignore[arg-type]
        dead_letters=fakes,  # type: ignore[arg-type]
        replication=fakes,  # type: ignore[arg-type]
        rto=_History(fakes),  # type: ignore[arg-type]
    )
    policies = ResolvedPolicies(policies=dict.fromkeys(settings.protected_tables, POLICY))
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


def test_worst_case_rpo_is_the_freshest_recovery_source():
    fakes = Fakes(
        pitr={"customers": pitr_on(300)},
        backups={"customers": BackupSummaryView(ago(hours=5), 2, 2, False)},
        exports={
            "customers": ExportSummaryView(
                {"FULL": ago(hours=20), "INCREMENTAL": ago(minutes=40)}, 0, 0, 0, True
            )
        },
        cdc={"customers": ago(seconds=30)},
        history={"customers": [rehearsal("SUCCEEDED", 1200)]},
    )
    (t,) = run(fakes).tables
    assert t.rpo_source == "pitr" and t.worst_case_rpo_seconds == 300
    assert t.rpo_met is True and t.rto_met is True
    assert t.exports is not None and t.exports.age_seconds == {"FULL": 72000.0, "INCREMENTAL": 2400.0}
    assert t.status == "ok"
    doc = table_docs(t)[0].values
    assert doc["RpoMet"][0] == 1 and doc["PitrLagSeconds"][0] == 300 and doc["CdcArchiveLagSeconds"][0] == 30


def test_without_pitr_the_newest_backup_or_export_sets_the_rpo():
    fakes = Fakes(
        backups={"customers": BackupSummaryView(ago(hours=5), 1, 1, False)},
        exports={
            "customers": ExportSummaryView(
                {"FULL": ago(hours=20), "INCREMENTAL": ago(hours=1)}, 0, 0, 0, True
            )
        },
    )
    (t,) = run(fakes).tables
    assert t.rpo_source == "export" and t.worst_case_rpo_seconds == 3600
    assert t.rpo_met is False and t.status == "at_risk"


def test_incrementals_without_a_full_base_are_not_a_recovery_point():
    fakes = Fakes(exports={"customers": ExportSummaryView({"INCREMENTAL": ago(minutes=5)}, 0, 0, 0, False)})
    (t,) = run(fakes).tables
    assert t.worst_case_rpo_seconds is None
    assert t.rpo_met is False  # every source read, none recoverable


def test_an_unreadable_source_makes_the_rpo_unknown_not_met():
    fakes = Fakes(backups={"customers": AccessDenied("AccessDeniedException: no ListBackups")})
    (t,) = run(fakes).tables
    assert t.rpo_met is None
    assert t.unknown["backups"].startswith("AccessDenied")
    assert t.status == "at_risk"  # PITR is off
    docs = table_docs(t)[0].values
    assert docs["RpoMet"][0] == 0 and docs["PostureCheckFailures"][0] == 1
    assert aggregate_doc(run(fakes)).values["TablesRpoNotMet"][0] == 1


def test_a_deleted_or_throttled_table_fails_alone():
    fakes = Fakes(
        describe={
            "gone": TableNotFound("ResourceNotFoundException"),
            "busy": TransientAwsError("Throttling"),
        },
        pitr={"customers": pitr_on(10)},
    )
    report = run(fakes, "gone", "customers", "busy")
    by = {t.logical_name: t for t in report.tables}
    assert by["gone"].status == "failed" and by["gone"].error and by["gone"].error.startswith("TableNotFound")
    assert (
        by["busy"].status == "failed"
        and by["busy"].error
        and by["busy"].error.startswith("TransientAwsError")
    )
    assert by["customers"].rpo_met is True
    assert report.failed_tables == ["gone", "busy"]
    aggregate = aggregate_doc(report).values
    assert aggregate["PostureCheckFailures"][0] == 2
    assert aggregate["TablesRpoNotMet"][0] == 2
    assert "WorstCaseRpoSeconds" not in aggregate  # some table has no known RPO: missing = breaching


def test_dead_letter_queue_unreadable_is_unknown_for_every_table():
    fakes = Fakes(pitr={"customers": pitr_on(10)}, dead_letters=AccessDenied("sqs"))
    (t,) = run(fakes).tables
    assert "cdc_failures" in t.unknown and t.status == "unknown"


def test_global_table_replicas_and_latency():
    replicas = {
        "Replicas": [
            {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"},
            {"RegionName": "us-west-2", "ReplicaStatus": "CREATING"},
        ]
    }
    fakes = Fakes(
        describe={"customers": replicas},
        pitr={"customers": pitr_on(10)},
        latency={"eu-west-1": 850.0},
        history={"customers": [rehearsal("SUCCEEDED", 60)]},
    )
    report = run(fakes)
    (t,) = report.tables
    assert [(r.region, r.status, r.latency_ms) for r in t.replicas or []] == [
        ("eu-west-1", "ACTIVE", 850.0),
        ("us-west-2", "CREATING", None),
    ]
    assert t.status == "at_risk"
    doc = table_docs(t)[0].values
    assert doc["ReplicaCount"][0] == 2 and doc["ReplicationLatency"][0] == 850.0
    assert aggregate_doc(report).values["ReplicasNotActive"][0] == 1


@pytest.mark.parametrize(
    ("history", "rto_met", "failed"),
    [
        ([], None, False),
        ([rehearsal("SUCCEEDED", 5400)], False, False),
        ([rehearsal("FAILED", 30, "20261201T040000Z"), rehearsal("SUCCEEDED", 600)], False, True),
        ([rehearsal("RUNNING", None, "20261201T040000Z"), rehearsal("SUCCEEDED", 600)], True, False),
    ],
)
def test_rto_comes_from_the_latest_successful_rehearsal(history, rto_met, failed):
    (t,) = run(Fakes(pitr={"customers": pitr_on(10)}, history={"customers": history})).tables
    assert t.rto_met is rto_met
    assert t.rto is not None and t.rto.latest_failed is failed
