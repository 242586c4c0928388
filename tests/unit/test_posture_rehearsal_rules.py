"""Rehearsal start/follow-up rules with a fake restore starter, store and tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import TableNotFound, TransientAwsError
from dynamodb_dr.core.registry import ProtectedTable
from dynamodb_dr.posture.rehearsal import (
    DEFAULT_MAX_CONCURRENT,
    ExecutionState,
    RehearsalTick,
    execution_name,
    follow_up,
    rehearsal_request,
    start_rehearsals,
)
from dynamodb_dr.posture.rto_history import RehearsalRecord
from dynamodb_dr.restore.models import RestoreRequest

NOW = datetime(2026, 12, 1, 4, 0, 5, tzinfo=UTC)
TICK = RehearsalTick(task="rehearse", scheduled_time=datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
SETTINGS = Settings(
    ssm_prefix="/dynamodb-dr/s", protected_tables=("customers", "orders"), state_table="state"
)


class Store:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], RehearsalRecord] = {}

    def claim(self, record: RehearsalRecord) -> RehearsalRecord | None:
        key = (record.logical_name, record.tick)
        if key in self.records:
            return self.records[key]
        self.records[key] = record
        return None

    def save(self, record: RehearsalRecord) -> None:
        self.records[(record.logical_name, record.tick)] = record

    def unfinished(self, logical: str) -> list[RehearsalRecord]:
        return [
            r
            for (t, _), r in self.records.items()
            if t == logical and (r.status in {"STARTING", "RUNNING"} or r.cleanup is None)
        ]


class Starter:
    def __init__(self, fail_for: str | None = None) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.states: dict[str, ExecutionState] = {}
        self.fail_for = fail_for

    def start(self, name: str, request: dict[str, Any]) -> str:
        if self.fail_for and self.fail_for in name:
            raise TransientAwsError("Throttling")
        self.started.append((name, request))
        return f"arn:exec:{name}"

    def describe(self, arn: str) -> ExecutionState:
        return self.states[arn]

    def running(self) -> list[str]:
        return (
            [arn.rsplit(":", 1)[1] for arn, state in self.states.items() if state.status == "RUNNING"]
            + [name for name, _ in self.started if f"arn:exec:{name}" not in self.states]
            + list(self.operator)
        )

    operator: tuple[str, ...] = ()


class Tables:
    def __init__(self, tags: dict[str, str | None]) -> None:
        self.tags = tags  # table -> execution tag (absent = table does not exist)
        self.deleted: list[str] = []

    def execution_tag(self, table: str) -> str | None:
        if table not in self.tags:
            raise TableNotFound(table)
        return self.tags[table]

    def delete(self, table: str) -> None:
        self.deleted.append(table)


class Registry:
    def __init__(self, live: dict[str, str] | None = None) -> None:
        self.live = live or {}

    def resolve(self, logical: str) -> ProtectedTable:
        return ProtectedTable(logical, self.live.get(logical, logical), "/p", pointer_exists=False)


def follow(
    store: Store,
    starter: Starter,
    tables: Tables,
    registry: Registry | None = None,
    *,
    settings: Settings = SETTINGS,
    after: timedelta = timedelta(minutes=30),
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> Any:
    """The follow-up run `after` the rehearsals' tick."""
    return follow_up(
        settings,
        store=store,
        starter=starter,
        tables=tables,
        registry=registry or Registry(),  # type: ignore[arg-type]
        now=NOW + after,
        max_concurrent=max_concurrent,
    )


def test_request_is_a_valid_restore_request_without_cutover():
    request = RestoreRequest.model_validate(rehearsal_request("customers", "customers-dr-rehearsal-1"))
    assert request.cutover == "none" and request.use_latest and request.on_failure == "delete"


def test_start_is_idempotent_per_tick_and_isolates_failures():
    store, starter = Store(), Starter(fail_for="orders")
    first = start_rehearsals(TICK, SETTINGS, store, starter, NOW)  # type: ignore[arg-type]
    assert first.started == ["customers"] and "orders" in first.failed
    again = start_rehearsals(TICK, SETTINGS, store, Starter(), NOW)  # type: ignore[arg-type]
    assert again.existing == ["customers"] and again.started == ["orders"]  # the failed start is retried
    ((name, request),) = starter.started
    assert name == execution_name("customers", TICK) == "rehearsal-customers-20261201T040000Z"
    assert request["tables"] == [{"logical": "customers", "target": "customers-dr-rehearsal-20261201040000"}]


def test_execution_names_are_safe_and_short():
    name = execution_name("a.b" * 60, TICK)
    assert len(name) <= 80 and "." not in name


def test_follow_up_records_time_and_deletes_only_its_scratch_table():
    store, starter = Store(), Starter()
    start_rehearsals(TICK, SETTINGS, store, starter, NOW)  # type: ignore[arg-type]
    arn_c, arn_o = (f"arn:exec:{execution_name(t, TICK)}" for t in ("customers", "orders"))
    starter.states[arn_c] = ExecutionState("SUCCEEDED", NOW, NOW + timedelta(seconds=754.5))
    starter.states[arn_o] = ExecutionState("RUNNING", NOW)
    tables = Tables(
        {
            "customers-dr-rehearsal-20261201040000": execution_name("customers", TICK),
            "orders-dr-rehearsal-20261201040000": execution_name("orders", TICK),
        }
    )

    run = follow(store, starter, tables)

    (done,) = run.finished
    assert done["logical_name"] == "customers" and done["status"] == "SUCCEEDED"
    assert done["measured_seconds"] == 754.5 and done["cleanup"] == "deleted"
    assert tables.deleted == ["customers-dr-rehearsal-20261201040000"]  # orders is still running
    assert [r.status for r in store.unfinished("orders")] == ["RUNNING"]
    assert store.unfinished("customers") == []


@pytest.mark.parametrize(
    ("tag", "live", "cleanup"),
    [
        ("someone-else", None, "none: not created by this rehearsal"),
        (None, None, "none: not created by this rehearsal"),
        ("mine", "customers-dr-rehearsal-20261201040000", "none: it is the live table"),
    ],
)
def test_follow_up_never_deletes_what_it_did_not_create(tag, live, cleanup):
    store, starter = Store(), Starter()
    start_rehearsals(
        TICK, SETTINGS.model_copy(update={"protected_tables": ("customers",)}), store, starter, NOW
    )  # type: ignore[arg-type]
    arn = f"arn:exec:{execution_name('customers', TICK)}"
    starter.states[arn] = ExecutionState("FAILED", NOW, NOW + timedelta(seconds=5), "RestoreValidationFailed")
    mine = execution_name("customers", TICK)
    tables = Tables({"customers-dr-rehearsal-20261201040000": mine if tag == "mine" else tag})
    registry = Registry({"customers": live} if live else {})

    run = follow(store, starter, tables, registry)

    (done,) = run.finished
    assert done["status"] == "FAILED" and done["failure"].startswith("FAILED: RestoreValidationFailed")
    assert done["cleanup"] == cleanup
    assert tables.deleted == []


def test_rehearsals_stay_within_their_share_and_wait_for_an_operator_restore() -> None:
    settings = Settings(
        ssm_prefix="/dynamodb-dr/s",
        protected_tables=tuple(f"t{i:02}" for i in range(12)),
        state_table="state",
    )
    store, starter = Store(), Starter()
    run = start_rehearsals(TICK, settings, store, starter, NOW, max_concurrent=5)  # type: ignore[arg-type]
    assert len(run.started) == 5 and len(run.queued) == 7 and not run.failed
    # the five finish; an operator's restore is running: nothing new starts
    for name, _ in starter.started:
        starter.states[f"arn:exec:{name}"] = ExecutionState("SUCCEEDED", NOW, NOW + timedelta(minutes=20))
    starter.operator = ("restore-20261201T0500Z",)
    tables = Tables({})
    later = follow(store, starter, tables, settings=settings, max_concurrent=5)
    assert len(later.finished) == 5 and later.started == [] and len(later.queued) == 7
    # the operator's restore is done: the queue moves on, five at a time
    starter.operator = ()
    later = follow(store, starter, tables, settings=settings, after=timedelta(minutes=45), max_concurrent=5)
    assert len(later.started) == 5 and len(later.queued) == 2


def test_a_rehearsal_queued_past_the_limit_is_given_up_not_started() -> None:
    store, starter = Store(), Starter()
    starter.operator = ("restore-operator",)
    run = start_rehearsals(TICK, SETTINGS, store, starter, NOW)  # type: ignore[arg-type]
    assert run.started == [] and run.queued == ["customers", "orders"]
    starter.operator = ()
    late = follow(store, starter, Tables({}), after=timedelta(days=8))
    assert late.started == [] and {f["status"] for f in late.finished} == {"FAILED"}
