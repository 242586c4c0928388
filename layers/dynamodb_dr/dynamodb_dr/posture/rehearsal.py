"""Scheduled restore rehearsals: measure the real restore time of every protected table.

`start_rehearsals` starts the restore state machine once per table and tick, with no cutover,
into a scratch table `<logical>-dr-rehearsal-<tick>`. `follow_up` records how each execution
ended and how long it took (the RTO history), then deletes the scratch table: only a table named
for that rehearsal, tagged by that execution, and not any table's live table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import TableNotFound, TableNotProtected
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.posture.rto_history import FINISHED, RehearsalRecord, RtoHistoryStore, seconds_between
from dynamodb_dr.restore.tables import (
    TAG_EXECUTION,  # the restore tags each table it creates
    RestoreTables,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_stepfunctions import SFNClient

SCRATCH_INFIX = "-dr-rehearsal-"
RUNNING = "RUNNING"
START_GRACE = timedelta(hours=1)  # the schedule's retries of a failed start fit in this


class RehearsalTick(ScheduleTick):
    """The rehearsal function's input: start rehearsals, or follow up on running ones."""

    task: Literal["rehearse", "follow_up"]


@dataclass(frozen=True)
class ExecutionState:
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    started: datetime
    stopped: datetime | None = None
    error: str | None = None


class RestoreStarter(Protocol):
    """The restore state machine (issue 5), or a fake in tests."""

    def start(self, name: str, request: dict[str, Any]) -> str: ...

    def describe(self, execution_arn: str) -> ExecutionState: ...


class StepFunctionsStarter:
    def __init__(self, sfn: SFNClient, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, name: str, request: dict[str, Any]) -> str:
        try:
            with aws_errors():
                response = self._sfn.start_execution(
                    stateMachineArn=self._arn, name=name, input=json.dumps(request)
                )
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ExecutionAlreadyExists":
                raise
            # A retried start of the same rehearsal: the execution name is deterministic.
            return f"{self._arn.replace(':stateMachine:', ':execution:')}:{name}"
        return str(response["executionArn"])

    def describe(self, execution_arn: str) -> ExecutionState:
        with aws_errors():
            d = self._sfn.describe_execution(executionArn=execution_arn)
        error = ": ".join(str(d[k]) for k in ("error", "cause") if d.get(k))
        return ExecutionState(d["status"], d["startDate"], d.get("stopDate"), error[:500] or None)


class ScratchTables:
    """DynamoDB adapter limited to what clean-up needs (the restore's own table adapter)."""

    def __init__(self, dynamodb: DynamoDBClient) -> None:
        self._tables = RestoreTables(dynamodb)

    def execution_tag(self, table: str) -> str | None:
        """The restore execution that created `table`; raises TableNotFound when it is gone."""
        return self._tables.tags(table).get(TAG_EXECUTION)

    def delete(self, table: str) -> None:
        self._tables.delete(table)


@dataclass
class RehearsalRun:
    started: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # table -> error (start or follow-up)


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
    tick: ScheduleTick, settings: Settings, store: RtoHistoryStore, starter: RestoreStarter, now: datetime
) -> RehearsalRun:
    run = RehearsalRun()
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
            record = existing or record
            arn = starter.start(record.execution_name, rehearsal_request(logical, record.target))
            store.save(record.model_copy(update={"execution_arn": arn, "status": RUNNING}))
            run.started.append(logical)
        except Exception as exc:
            run.failed[logical] = _why(exc)
    return run


def follow_up(
    settings: Settings,
    *,
    store: RtoHistoryStore,
    starter: RestoreStarter,
    tables: ScratchTables,
    registry: TableRegistry,
    now: datetime,
) -> RehearsalRun:
    """Record finished rehearsals and delete their scratch tables. Running ones are left alone."""
    run = RehearsalRun()
    for logical in settings.protected_tables:
        try:
            pending = store.unfinished(logical)
        except Exception as exc:
            run.failed[logical] = _why(exc)
            continue
        for record in pending:
            try:
                done = _follow(record, starter=starter, tables=tables, registry=registry, now=now)
            except Exception as exc:
                run.failed[logical] = _why(exc)
                continue
            if done is not None:
                store.save(done)
                run.finished.append(done.model_dump(mode="json"))
    return run


def _follow(
    record: RehearsalRecord,
    *,
    starter: RestoreStarter,
    tables: ScratchTables,
    registry: TableRegistry,
    now: datetime,
) -> RehearsalRecord | None:
    if record.status not in FINISHED:
        if record.execution_arn is None:
            # Claimed but never started (the start failed): nothing ran, nothing to clean.
            return record.model_copy(
                update={
                    "status": "FAILED",
                    "failure": "execution never started",
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


def _clean(record: RehearsalRecord, tables: ScratchTables, registry: TableRegistry) -> str:
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
