"""First step: validate a restore request and resolve it into a Plan. Creates nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dynamodb_dr.core.config import Settings, _short, resolve_policies
from dynamodb_dr.core.errors import RestoreRequestInvalid, TableNotProtected
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.restore.durations import Rehearsed, estimate_durations, rto_alert_seconds
from dynamodb_dr.restore.estimate import estimate
from dynamodb_dr.restore.models import MAX_SEGMENTS, Estimate, Plan, PlannedTable, PollPlan, RestoreRequest
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from dynamodb_dr.restore.resume import Resumable

DEFAULT_LIMIT_HOURS = 24


def parse_request(raw: Any) -> RestoreRequest:
    try:
        return RestoreRequest.model_validate(raw)
    except ValidationError as exc:
        raise RestoreRequestInvalid(f"invalid restore request: {_short(exc)}") from exc


def target_name(logical: str, started_at: datetime, execution: str) -> str:
    """Unique per execution: two runs started in the same second never share a target."""
    suffix = hashlib.sha256(execution.encode()).hexdigest()[:8]
    return f"{logical}-dr-{started_at.strftime('%Y%m%d%H%M%S')}-{suffix}"


def poll_plan(plan_estimate: Estimate, timeout_minutes: int | None, limit_hours: int) -> PollPlan:
    """The wait for DynamoDB: alert when the RTO can no longer be met, give up only at the hard
    limit (the request's `restore_timeout_minutes`, or the stack's RestoreTimeLimitHours)."""
    limit = timeout_minutes * 60 if timeout_minutes else limit_hours * 3600
    return PollPlan(limit_seconds=limit, rto_alert_seconds=min(limit, rto_alert_seconds(plan_estimate)))


@dataclass
class PlanContext:
    """What planning reads besides the request: the deployment, the tables, rehearsal history."""

    settings: Settings
    registry: TableRegistry
    tables: RestoreTables
    limit_hours: int = DEFAULT_LIMIT_HOURS
    rehearsed: Callable[[str], Rehearsed | None] = field(default=lambda logical: None)
    resumable: Resumable | None = None  # what a resume request checks (resume.py)
    # What each live-table pointer must hold (pointers.py): a missing pointer is never guessed.
    recorded_pointer: Callable[[str], str | None] = field(default=lambda logical: None)


def build_plan(raw: Any, *, execution: str, started_at: datetime, context: PlanContext) -> Plan:
    request = parse_request(raw)
    if request.rollback is not None:
        return Plan(
            mode="rollback",
            execution=execution,
            started_at=started_at,
            rollback_of=request.rollback.execution,
            cutover="none",
        )
    if request.resume is not None:
        from dynamodb_dr.restore.resume import resume_plan

        return resume_plan(request, execution=execution, started_at=started_at, context=context)
    settings, registry, tables = context.settings, context.registry, context.tables
    policies = resolve_policies(settings, registry.policy_document()).policies
    planned: list[PlannedTable] = []
    sizes: list[tuple[str, int | None]] = []
    windows = []
    sources: dict[str, dict[str, Any]] = {}
    for entry in request.tables:
        try:
            live = registry.resolve(entry.logical)
        except TableNotProtected as exc:
            raise RestoreRequestInvalid(str(exc), table=entry.logical) from exc
        recorded = None if live.pointer_exists else context.recorded_pointer(entry.logical)
        if recorded not in {None, entry.logical}:
            raise RestoreRequestInvalid(
                f"the live-table pointer of {entry.logical} is missing and its record says {recorded}: "
                "the pointer publish puts it back within 5 minutes; nothing is restored from a guess",
                table=entry.logical,
            )
        source = tables.describe(live.live_table)
        sources[entry.logical] = source
        window = tables.restorable_window(live.live_table)
        if window is None:
            raise RestoreRequestInvalid(
                f"point-in-time recovery is off on {live.live_table} (live table of {entry.logical})",
                table=entry.logical,
            )
        windows.append((entry.logical, window))
        target = entry.target or target_name(entry.logical, started_at, execution)
        if target in {p.target for p in planned} or target in settings.protected_tables:
            raise RestoreRequestInvalid(f"target table {target} is named twice", table=entry.logical)
        if tables.exists(target):
            raise RestoreRequestInvalid(f"target table {target} already exists", table=entry.logical)
        planned.append(
            PlannedTable(
                logical=entry.logical, source=live.live_table, source_arn=source["TableArn"], target=target
            )
        )
        size = source.get("TableSizeBytes")
        sizes.append((entry.logical, int(size) if isinstance(size, int) else None))
    restore_time = request.restore_time or min(latest for _, (_, latest) in windows)
    for logical, (earliest, latest) in windows:
        if not earliest <= restore_time <= latest:
            raise RestoreRequestInvalid(
                f"restore time {restore_time.isoformat()} is outside the restorable window of {logical} "
                f"[{earliest.isoformat()}, {latest.isoformat()}]",
                table=logical,
            )
    rto = min(policies[t.logical].rto_minutes for t in planned)
    validation = estimate(
        sources, requested_segments=request.validation.segments, max_segments=MAX_SEGMENTS, rto_minutes=rto
    )
    expected = estimate_durations(sizes, validation=validation, rto_minutes=rto, rehearsed=context.rehearsed)
    return Plan(
        mode="restore",
        execution=execution,
        started_at=started_at,
        restore_time=restore_time,
        tables=tuple(planned),
        cutover=request.cutover,
        catch_up=request.catch_up,
        on_failure=request.on_failure,
        accept_setting_differences=request.accept_setting_differences,
        validation=request.validation,
        poll=poll_plan(expected, request.restore_timeout_minutes, context.limit_hours),
        rto_minutes=rto,
        validation_estimate=validation,
        estimate=expected,
    )
