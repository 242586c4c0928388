"""First step: validate a restore request and resolve it into a Plan. Creates nothing."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.core.config import Settings, _short, resolve_policies
from dynamodb_dr.core.errors import RestoreRequestInvalid, TableNotProtected
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.restore.estimate import estimate
from dynamodb_dr.restore.models import MAX_SEGMENTS, Plan, PlannedTable, PollPlan, RestoreRequest
from dynamodb_dr.restore.tables import RestoreTables

# Share of the RTO the restore itself may take; the rest is for settings, validation, cutover.
RESTORE_SHARE_OF_RTO = 0.5


def parse_request(raw: Any) -> RestoreRequest:
    try:
        return RestoreRequest.model_validate(raw)
    except ValidationError as exc:
        raise RestoreRequestInvalid(f"invalid restore request: {_short(exc)}") from exc


def target_name(logical: str, started_at: datetime) -> str:
    return f"{logical}-dr-{started_at.strftime('%Y%m%d%H%M%S')}"


def poll_plan(rto_minutes: int, timeout_minutes: int | None) -> PollPlan:
    budget = (timeout_minutes or rto_minutes * RESTORE_SHARE_OF_RTO) * 60
    interval = 30 if budget >= 600 else 10
    return PollPlan(interval_seconds=interval, max_attempts=max(1, math.ceil(budget / interval)))


def build_plan(
    raw: Any,
    *,
    execution: str,
    started_at: datetime,
    settings: Settings,
    registry: TableRegistry,
    tables: RestoreTables,
) -> Plan:
    request = parse_request(raw)
    if request.rollback is not None:
        return Plan(
            mode="rollback",
            execution=execution,
            started_at=started_at,
            rollback_of=request.rollback.execution,
            cutover="none",
        )
    policies = resolve_policies(settings, registry.policy_document()).policies
    planned: list[PlannedTable] = []
    windows = []
    sources: dict[str, dict[str, Any]] = {}
    for entry in request.tables:
        try:
            live = registry.resolve(entry.logical)
        except TableNotProtected as exc:
            raise RestoreRequestInvalid(str(exc), table=entry.logical) from exc
        source = tables.describe(live.live_table)
        sources[entry.logical] = source
        window = tables.restorable_window(live.live_table)
        if window is None:
            raise RestoreRequestInvalid(
                f"point-in-time recovery is off on {live.live_table} (live table of {entry.logical})",
                table=entry.logical,
            )
        windows.append((entry.logical, window))
        target = entry.target or target_name(entry.logical, started_at)
        if tables.exists(target):
            raise RestoreRequestInvalid(f"target table {target} already exists", table=entry.logical)
        planned.append(
            PlannedTable(
                logical=entry.logical, source=live.live_table, source_arn=source["TableArn"], target=target
            )
        )
    restore_time = request.restore_time or min(latest for _, (_, latest) in windows)
    for logical, (earliest, latest) in windows:
        if not earliest <= restore_time <= latest:
            raise RestoreRequestInvalid(
                f"restore time {restore_time.isoformat()} is outside the restorable window of {logical} "
                f"[{earliest.isoformat()}, {latest.isoformat()}]",
                table=logical,
            )
    rto = min(policies[t.logical].rto_minutes for t in planned)
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
        poll=poll_plan(rto, request.restore_timeout_minutes),
        rto_minutes=rto,
        validation_estimate=estimate(
            sources,
            requested_segments=request.validation.segments,
            max_segments=MAX_SEGMENTS,
            rto_minutes=rto,
        ),
    )
