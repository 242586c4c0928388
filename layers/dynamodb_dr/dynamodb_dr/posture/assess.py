"""DR posture of each protected table: can it meet its RPO and RTO right now?

One implementation shared by the scheduled posture function (metrics + alarms) and
`dynamodb-dr status`. A table whose checks fail (deleted, access denied, throttled) is reported as
failed and the run goes on with the other tables. A check that cannot be made is *unknown*, and
unknown never counts as met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from dynamodb_dr.core.config import ResolvedPolicies, Settings, TablePolicy
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.posture.models import (
    BackupPosture,
    CdcPosture,
    ExportPosture,
    PitrPosture,
    PostureReport,
    ReplicaPosture,
    RtoPosture,
    RtoSample,
    TablePosture,
    TableStatus,
)
from dynamodb_dr.posture.rto_history import RtoHistoryStore, latest_measured
from dynamodb_dr.posture.sources import (
    BackupView,
    CdcArchiveView,
    DeadLetterView,
    ExportView,
    ReplicationView,
)

__all__ = ["PostureReport", "PostureSources", "TablePosture", "assess_all", "assess_table"]

T = TypeVar("T")


@dataclass
class PostureSources:
    """What the posture check reads. Optional views are None when that part isn't deployed."""

    registry: TableRegistry
    dynamo: DynamoControl
    backups: BackupView
    exports: ExportView | None = None
    cdc: CdcArchiveView | None = None
    dead_letters: DeadLetterView | None = None
    replication: ReplicationView | None = None
    rto: RtoHistoryStore | None = None


def assess_all(
    settings: Settings, policies: ResolvedPolicies, sources: PostureSources, now: datetime
) -> PostureReport:
    dead_letters: int | None = None
    dlq_error: str | None = "CDC failure queue not configured"
    if sources.dead_letters is not None:
        try:
            dead_letters, dlq_error = sources.dead_letters.depth(), None
        except Exception as exc:
            dlq_error = _why(exc)
    tables = []
    for logical in settings.protected_tables:
        posture = assess_table(logical, policies.policies[logical], sources, now, dead_letters)
        if dlq_error and posture.status != "failed":
            posture.unknown["cdc_failures"] = dlq_error
            posture.status = _status(posture)
        tables.append(posture)
    return PostureReport(generated_at=now, tables=tables, cdc_dead_letters=dead_letters)


def assess_table(
    logical: str,
    policy: TablePolicy,
    sources: PostureSources,
    now: datetime,
    dead_letters: int | None = None,
) -> TablePosture:
    posture = TablePosture(
        logical_name=logical,
        rpo_objective_seconds=policy.rpo_minutes * 60,
        rto_objective_seconds=policy.rto_minutes * 60,
    )
    try:
        live = sources.registry.resolve(logical).live_table
        posture.live_table = live
        description = sources.dynamo.describe_table(live)
    except Exception as exc:
        posture.status, posture.error = "failed", _why(exc)
        return posture

    def check(name: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except Exception as exc:
            posture.unknown[name] = _why(exc)
            return None

    posture.pitr = check("pitr", lambda: _pitr(sources.dynamo, live, now))
    posture.backups = check("backups", lambda: _backups(sources.backups, logical, live, now))
    if sources.exports is not None:
        exports = sources.exports
        posture.exports = check("exports", lambda: _exports(exports, logical, now))
    else:
        posture.unknown["exports"] = "export chain not configured"
    if sources.cdc is not None:
        cdc = sources.cdc
        posture.cdc = check("cdc_archive", lambda: _cdc(cdc, logical, now, dead_letters))
    else:
        posture.unknown["cdc_archive"] = "CDC archive not configured"
    posture.replicas = check("replicas", lambda: _replicas(description, sources.replication, live, now))
    if sources.rto is not None:
        rto = sources.rto
        posture.rto = check("rto_history", lambda: _rto(rto, logical))
    else:
        posture.unknown["rto_history"] = "rehearsal history not configured"
    _objectives(posture)
    posture.status = _status(posture)
    return posture


def _pitr(dynamo: DynamoControl, table: str, now: datetime) -> PitrPosture:
    status = dynamo.pitr_status(table)
    if not status.enabled:
        return PitrPosture(enabled=False)
    earliest, latest = status.earliest_restorable, status.latest_restorable
    return PitrPosture(
        enabled=True,
        earliest_restorable=earliest,
        latest_restorable=latest,
        lag_seconds=max(0.0, (now - latest).total_seconds()) if latest else None,
        window_days=round((latest - earliest).total_seconds() / 86400, 3) if earliest and latest else None,
    )


def _backups(view: BackupView, logical: str, live: str, now: datetime) -> BackupPosture:
    summary = view.summary(logical, live)
    return BackupPosture(
        newest=summary.newest,
        age_seconds=_age(now, summary.newest),
        available=summary.available,
        tool_backups=summary.tool_backups,
        last_run_failed=summary.last_run_failed,
    )


def _exports(view: ExportView, logical: str, now: datetime) -> ExportPosture:
    summary = view.summary(logical)
    ages = {kind: max(0.0, (now - when).total_seconds()) for kind, when in summary.newest_point.items()}
    # Incrementals only restore on top of a FULL base: without one nothing is recoverable.
    newest = max(summary.newest_point.values()) if summary.has_base and summary.newest_point else None
    return ExportPosture(
        age_seconds=ages,
        newest_point=newest,
        point_age_seconds=_age(now, newest),
        failures_since_success=summary.failures_since_success,
        gaps=summary.gaps,
        inflight=summary.inflight,
        has_base=summary.has_base,
    )


def _cdc(view: CdcArchiveView, logical: str, now: datetime, dead_letters: int | None) -> CdcPosture:
    newest = view.newest_object(logical, now)
    return CdcPosture(newest_object=newest, lag_seconds=_age(now, newest), dead_letters=dead_letters)


def _replicas(
    description: dict[str, object], view: ReplicationView | None, table: str, now: datetime
) -> list[ReplicaPosture]:
    replicas: list[ReplicaPosture] = []
    for replica in description.get("Replicas") or []:  # type: ignore[attr-defined]
        region = str(replica.get("RegionName", "?"))
        latency = view.latency_ms(table, region, now) if view is not None else None
        replicas.append(
            ReplicaPosture(region=region, status=str(replica.get("ReplicaStatus", "?")), latency_ms=latency)
        )
    return replicas


def _rto(store: RtoHistoryStore, logical: str) -> RtoPosture:
    history = store.history(logical)
    finished = [r for r in history if r.status in {"SUCCEEDED", "FAILED"}]
    latest = latest_measured(history)
    return RtoPosture(
        latest_seconds=latest.measured_seconds if latest else None,
        latest_failed=bool(finished) and finished[0].status == "FAILED",
        history=[
            RtoSample(tick=r.tick, status=r.status, measured_seconds=r.measured_seconds, ended_at=r.ended_at)
            for r in history
        ],
    )


def _objectives(posture: TablePosture) -> None:
    """Worst-case RPO = age of the newest recoverable point over every recovery source."""
    ages: dict[str, float] = {}
    if posture.pitr and posture.pitr.enabled and posture.pitr.lag_seconds is not None:
        ages["pitr"] = posture.pitr.lag_seconds
    if posture.backups and posture.backups.age_seconds is not None:
        ages["backup"] = posture.backups.age_seconds
    if posture.exports and posture.exports.point_age_seconds is not None:
        ages["export"] = posture.exports.point_age_seconds
    if ages:
        source = min(ages, key=lambda k: ages[k])
        posture.rpo_source, posture.worst_case_rpo_seconds = source, round(ages[source], 3)
        posture.rpo_met = ages[source] <= posture.rpo_objective_seconds
    elif not ({"pitr", "backups", "exports"} & set(posture.unknown)):
        posture.rpo_met = False  # every source was read and none holds a recoverable point
    if posture.rto and posture.rto.latest_seconds is not None:
        posture.rto_met = (
            posture.rto.latest_seconds <= posture.rto_objective_seconds and not posture.rto.latest_failed
        )


def _status(posture: TablePosture) -> TableStatus:
    if posture.status == "failed":
        return "failed"
    at_risk = (
        posture.rpo_met is False
        or posture.rto_met is False
        or (posture.pitr is not None and not posture.pitr.enabled)
        or (posture.rto is not None and posture.rto.latest_failed)
        or (posture.cdc is not None and bool(posture.cdc.dead_letters))
        or any(r.status != "ACTIVE" for r in posture.replicas or [])
    )
    if at_risk:
        return "at_risk"
    if posture.unknown or posture.rpo_met is None or posture.rto_met is None:
        return "unknown"
    return "ok"


def _age(now: datetime, when: datetime | None) -> float | None:
    return None if when is None else round(max(0.0, (now - when).total_seconds()), 3)


def _why(exc: Exception) -> str:
    code = getattr(exc, "code", None) or type(exc).__name__
    return f"{code}: {str(exc)[:300]}"
