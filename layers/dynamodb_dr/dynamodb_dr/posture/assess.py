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

from dynamodb_dr.core.config import ResolvedPolicies, Settings, TablePolicy
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.posture.cdc_sources import CdcArchiveView
from dynamodb_dr.posture.dead_letters import DeadLetters, DeadLetterView
from dynamodb_dr.posture.freshness import (
    CdcActivitySources,
    CdcFleet,
    archive_base,
    assess_archive,
    read_fleet,
)
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
from dynamodb_dr.posture.sources import BackupView, ExportView, ReplicationView

__all__ = ["PostureReport", "PostureSources", "TablePosture", "assess_all"]


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
    cdc_activity: CdcActivitySources | None = None  # archiver mappings, IteratorAge, table writes


def assess_all(
    settings: Settings, policies: ResolvedPolicies, sources: PostureSources, now: datetime
) -> PostureReport:
    dead: DeadLetters | None = None
    dlq_error: str | None = "CDC failure queue not configured"
    if sources.dead_letters is not None:
        try:
            dead, dlq_error = sources.dead_letters.read(), None
        except Exception as exc:
            dlq_error = _why(exc)
    assessed = [
        _assess_sources(logical, policies.policies[logical], sources, now)
        for logical in settings.protected_tables
    ]
    # Fleet-wide reads once (mappings, metrics), for the live tables that could be described.
    live = [p.live_table for p, _ in assessed if p.status != "failed" and p.live_table]
    fleet = read_fleet(sources.cdc_activity, dead, live, now, _why)
    for posture, description in assessed:
        if posture.status == "failed":
            continue
        _freshness(posture, description, sources, fleet, dlq_error=dlq_error, now=now)
        _objectives(posture)
        posture.status = _status(posture)
    return PostureReport(
        generated_at=now, tables=[p for p, _ in assessed], cdc_dead_letters=dead.depth if dead else None
    )


def _assess_sources(
    logical: str, policy: TablePolicy, sources: PostureSources, now: datetime
) -> tuple[TablePosture, dict[str, object]]:
    """Every check but the CDC archive's freshness (that needs the fleet-wide reads)."""
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
        return posture, {}
    posture.pitr = _check(posture, "pitr", lambda: _pitr(sources.dynamo, live, now))
    posture.backups = _check(posture, "backups", lambda: _backups(sources.backups, logical, live, now))
    if sources.exports is not None:
        exports = sources.exports
        posture.exports = _check(posture, "exports", lambda: _exports(exports, logical, now))
    else:
        posture.unknown["exports"] = "export chain not configured"
    posture.replicas = _check(
        posture, "replicas", lambda: _replicas(description, sources.replication, live, now)
    )
    if sources.rto is not None:
        rto = sources.rto
        posture.rto = _check(posture, "rto_history", lambda: _rto(rto, logical))
    else:
        posture.unknown["rto_history"] = "rehearsal history not configured"
    return posture, description


def _freshness(
    posture: TablePosture,
    description: dict[str, object],
    sources: PostureSources,
    fleet: CdcFleet,
    *,
    dlq_error: str | None,
    now: datetime,
) -> None:
    if sources.cdc is None:
        posture.unknown["cdc_archive"] = "CDC archive not configured"
        return
    view, live = sources.cdc, str(posture.live_table)
    posture.unknown.update(fleet.errors)
    if dlq_error:
        posture.unknown["cdc_failures"] = dlq_error
    stream = description.get("LatestStreamArn")

    def cdc() -> CdcPosture:
        archive = view.stream_archive(posture.logical_name, str(stream) if stream else None, now)
        depth = fleet.dead_letters.depth if fleet.dead_letters else None
        found = CdcPosture(
            newest_object=archive.newest_object,
            lag_seconds=_age(now, archive.newest_object),
            dead_letters=depth,
        )
        return assess_archive(
            found,
            logical=posture.logical_name,
            live_table=live,
            description=description,
            archive=archive,
            fleet=fleet,
            rpo_seconds=posture.rpo_objective_seconds,
            now=now,
        )

    posture.cdc = _check(posture, "cdc_archive", cdc)


def _check[R](posture: TablePosture, name: str, fn: Callable[[], R]) -> R | None:
    try:
        return fn()
    except Exception as exc:
        posture.unknown[name] = _why(exc)
        return None


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
    """Worst-case RPO = age of the newest recoverable point over every recovery source (the CDC
    archive counts with the base it replays onto: posture/freshness.py)."""
    ages: dict[str, float] = {}
    if posture.pitr and posture.pitr.enabled and posture.pitr.lag_seconds is not None:
        ages["pitr"] = posture.pitr.lag_seconds
    if posture.backups and posture.backups.age_seconds is not None:
        ages["backup"] = posture.backups.age_seconds
    if posture.exports and posture.exports.point_age_seconds is not None:
        ages["export"] = posture.exports.point_age_seconds
    if posture.cdc is not None:
        # The archive is a recovery point only where it replays onto a base up to its reach.
        posture.cdc.replayable_from = archive_base(posture)
        if posture.cdc.replayable_from and posture.cdc.reach_age_seconds is not None:
            ages["cdc-archive"] = posture.cdc.reach_age_seconds
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
        or (posture.cdc is not None and posture.cdc.at_risk)
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
