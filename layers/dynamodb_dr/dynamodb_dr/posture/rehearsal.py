"""Scheduled restore rehearsals: measure the real restore time of every protected table, within
the account's restore quotas and never in an operator's way.

`start_rehearsals` claims one rehearsal per table and tick and starts the restore state machine,
with no cutover, into a scratch table `<logical>-dr-rehearsal-<tick>`, at most
`rehearsal_max_concurrent` at a time and none while an operator's restore is running: the others
wait in the queue (their claimed records) and `follow_up` starts them as slots free. An account
allows 50 concurrent restores; rehearsals take at most the configured share, and an operator's
restore also retries DynamoDB's LimitExceeded with backoff. `follow_up` records how each execution
ended and how long it took (the RTO history), then deletes the scratch table and everything the
tool set up for it: only a table named for that rehearsal, tagged by that execution, and not any
table's live table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import Field

from dynamodb_dr.core.config import Settings, StackSettings
from dynamodb_dr.core.errors import LimitExceeded, TableNotFound, TableNotProtected
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.posture.rehearsal_aws import ExecutionState
from dynamodb_dr.posture.rto_history import FINISHED, RehearsalRecord, RtoHistoryStore, seconds_between

SCRATCH_INFIX = "-dr-rehearsal-"
EXECUTION_PREFIX = "rehearsal-"
RUNNING = "RUNNING"
QUEUE_LIMIT = timedelta(days=7)  # a rehearsal that could not start within this is given up
DEFAULT_MAX_CONCURRENT = 10


class RehearsalSettings(StackSettings):
    """The rehearsal function's environment."""

    restore_state_machine_arn: str = Field(
        pattern=r"^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]+$"
    )
    # Rehearsal restores running at once (an account allows 50 concurrent restores by default).
    rehearsal_max_concurrent: int = Field(default=DEFAULT_MAX_CONCURRENT, ge=1, le=40)


class RehearsalTick(ScheduleTick):
    """The rehearsal function's input: start rehearsals, or follow up on running ones."""

    task: Literal["rehearse", "follow_up"]


class RestoreStarter(Protocol):
    """The restore state machine, or a fake in tests."""

    def start(self, name: str, request: dict[str, Any]) -> str: ...

    def describe(self, execution_arn: str) -> ExecutionState: ...

    def running(self) -> list[str]: ...


class Scratch(Protocol):
    def execution_tag(self, table: str) -> str | None: ...

    def delete(self, table: str) -> None: ...


@dataclass
class RehearsalRun:
    started: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)  # claimed, waiting for restore capacity
    finished: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # table -> error (start or follow-up)


def free_slots(starter: RestoreStarter, max_concurrent: int) -> int:
    """Rehearsals that may start now: none while an operator's restore runs."""
    names = starter.running()
    rehearsals = sum(1 for name in names if name.startswith(EXECUTION_PREFIX))
    if len(names) > rehearsals:
        return 0
    return max(0, max_concurrent - rehearsals)


def scratch_table(logical: str, tick: ScheduleTick) -> str:
    return f"{logical}{SCRATCH_INFIX}{tick.scheduled_time:%Y%m%d%H%M%S}"


def execution_name(logical: str, tick: ScheduleTick) -> str:
    """Deterministic (a retried tick finds its execution), <= 80 chars of [A-Za-z0-9_-]."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", logical)[:50]
    return f"rehearsal-{safe}-{tick.tick_id}"


def rehearsal_request(logical: str, target: str) -> dict[str, Any]:
    """The restore input (see events/restore-*.json): latest point, validated, never cut over."""
    return {
        "tables": [{"logical": logical, "target": target}],
        "use_latest": True,
        "cutover": "none",
        "on_failure": "delete",
        "validation": {"compare_source_count": True, "max_source_deviation_pct": 10.0},
    }


def start_rehearsals(
    tick: ScheduleTick,
    settings: Settings,
    store: RtoHistoryStore,
    starter: RestoreStarter,
    now: datetime,
    *,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> RehearsalRun:
    run = RehearsalRun()
    free = free_slots(starter, max_concurrent)
    for logical in tick.tables or settings.protected_tables:
        if logical not in settings.protected_tables:
            run.failed[logical] = f"{TableNotProtected.code}: not protected by this stack"
            continue
        record = RehearsalRecord(
            logical_name=logical,
            tick=tick.tick_id,
            execution_name=execution_name(logical, tick),
            target=scratch_table(logical, tick),
            started_at=now,
        )
        try:
            existing = store.claim(record)
            if existing is not None and existing.execution_arn:
                run.existing.append(logical)
                continue
            if free <= 0:
                run.queued.append(logical)
                continue
            if _start(existing or record, store, starter, run):
                free -= 1
        except Exception as exc:
            run.failed[logical] = _why(exc)
    return run


def _start(
    record: RehearsalRecord, store: RtoHistoryStore, starter: RestoreStarter, run: RehearsalRun
) -> bool:
    """Start one claimed rehearsal; a limit on the Step Functions side leaves it queued."""
    try:
        arn = starter.start(record.execution_name, rehearsal_request(record.logical_name, record.target))
    except LimitExceeded:
        run.queued.append(record.logical_name)
        return False
    store.save(record.model_copy(update={"execution_arn": arn, "status": RUNNING}))
    run.started.append(record.logical_name)
    return True


def follow_up(
    settings: Settings,
    *,
    store: RtoHistoryStore,
    starter: RestoreStarter,
    tables: Scratch,
    registry: TableRegistry,
    now: datetime,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> RehearsalRun:
    """Record finished rehearsals and delete their scratch tables, then start queued ones while
    there is capacity. Running ones are left alone."""
    run = RehearsalRun()
    queue: list[RehearsalRecord] = []
    for logical in settings.protected_tables:
        try:
            pending = store.unfinished(logical)
        except Exception as exc:
            run.failed[logical] = _why(exc)
            continue
        for record in pending:
            if (
                record.status not in FINISHED
                and record.execution_arn is None
                and now - record.started_at < QUEUE_LIMIT
            ):
                queue.append(record)
                continue
            try:
                done = _follow(record, starter=starter, tables=tables, registry=registry, now=now)
            except Exception as exc:
                run.failed[logical] = _why(exc)
                continue
            if done is not None:
                store.save(done)
                run.finished.append(done.model_dump(mode="json"))
    free = free_slots(starter, max_concurrent) if queue else 0
    for record in sorted(queue, key=lambda r: (r.tick, r.logical_name)):
        if free <= 0:
            run.queued.append(record.logical_name)
            continue
        try:
            if _start(record, store, starter, run):
                free -= 1
        except Exception as exc:
            run.failed[record.logical_name] = _why(exc)
    return run


def _follow(
    record: RehearsalRecord,
    *,
    starter: RestoreStarter,
    tables: Scratch,
    registry: TableRegistry,
    now: datetime,
) -> RehearsalRecord | None:
    if record.status not in FINISHED:
        if record.execution_arn is None:
            # Queued longer than QUEUE_LIMIT: nothing ran, nothing to clean.
            return record.model_copy(
                update={
                    "status": "FAILED",
                    "failure": "execution never started (restore capacity stayed busy)",
                    "cleanup": "none: not created",
                }
            )
        state = starter.describe(record.execution_arn)
        if state.status in {RUNNING, "PENDING_REDRIVE"}:
            return None
        stopped = state.stopped or now
        record = record.model_copy(
            update={
                "status": "SUCCEEDED" if state.status == "SUCCEEDED" else "FAILED",
                "ended_at": stopped.astimezone(UTC),
                "measured_seconds": seconds_between(state.started, stopped),
                "failure": None if state.status == "SUCCEEDED" else f"{state.status}: {state.error or ''}",
            }
        )
    return record.model_copy(update={"cleanup": _clean(record, tables, registry)})


def _clean(record: RehearsalRecord, tables: Scratch, registry: TableRegistry) -> str:
    target, logical = record.target, record.logical_name
    if not target.startswith(f"{logical}{SCRATCH_INFIX}"):
        return "none: not a rehearsal scratch table name"
    if registry.resolve(logical).live_table == target:
        return "none: it is the live table"
    try:
        created_by = tables.execution_tag(target)
    except TableNotFound:
        return "none: not present (the restore deleted it or never created it)"
    if created_by != record.execution_name:
        return "none: not created by this rehearsal"
    tables.delete(target)
    return "deleted"


def _why(exc: Exception) -> str:
    return f"{getattr(exc, 'code', None) or type(exc).__name__}: {str(exc)[:300]}"
