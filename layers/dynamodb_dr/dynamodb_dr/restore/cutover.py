"""Cutover: switch every restored table's live-table pointer, and roll it back, pointer by pointer.

The switch is recorded in the state table first (each pointer's previous and new value, and whether
it existed), so any later step can tell every pointer's state from the record and the pointer's
current value: a retried or resumed cutover finishes what an earlier attempt started, a failed one
puts back what it switched, and a rollback puts back exactly what existed (an absent pointer stays
absent) whatever state a cutover left. Old tables are never touched here.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import CutoverConflict, CutoverFailed, RestoreRequestInvalid
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.pointers import PointerRecord, PointerRecords, Pointers
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

PENDING, SWITCHED, FAILED, ROLLED_BACK = "PENDING", "SWITCHED", "FAILED", "ROLLED_BACK"


@dataclass(frozen=True)
class PointerChange:
    logical: str
    parameter: str
    previous: str  # the live table before the cutover (the logical name when there was no pointer)
    new: str
    previous_existed: bool = True


@dataclass(frozen=True)
class CutoverRecord:
    status: str
    changes: list[PointerChange]
    restore_point: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class CutoverLedger:
    """One item per restore execution: pk RESTORE#<execution>, sk CUTOVER."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb, self._table = dynamodb, table

    @staticmethod
    def _key(execution: str) -> dict[str, Any]:
        return {"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": "CUTOVER"}}

    def get(self, execution: str) -> CutoverRecord | None:
        with aws_errors():
            item = self._ddb.get_item(
                TableName=self._table, Key=self._key(execution), ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        fixed = {"pk", "sk", "status", "changes", "restore_point", "updated_at"}
        return CutoverRecord(
            status=item["status"]["S"],
            changes=[PointerChange(**c) for c in json.loads(item["changes"]["S"])],
            restore_point=item.get("restore_point", {}).get("S"),
            extra={k: v["S"] for k, v in item.items() if k not in fixed and "S" in v},
        )

    def all(self) -> list[CutoverRecord]:
        """Every recorded cutover (a scan of the state table: the clean-up reads it, rarely)."""
        records = []
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :cutover",
            ExpressionAttributeValues={":cutover": {"S": "CUTOVER"}},
        )
        with aws_errors():
            for page in pages:
                for item in page.get("Items", []):
                    records.append(
                        CutoverRecord(
                            status=item["status"]["S"],
                            changes=[PointerChange(**c) for c in json.loads(item["changes"]["S"])],
                        )
                    )
        return records

    def put(
        self,
        execution: str,
        status: str,
        changes: list[PointerChange],
        *,
        restore_point: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        item = {
            **self._key(execution),
            "status": {"S": status},
            "changes": {"S": json.dumps([asdict(c) for c in changes])},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
            **({"restore_point": {"S": restore_point}} if restore_point else {}),
            **{k: {"S": v} for k, v in (extra or {}).items()},
        }
        with aws_errors():
            self._ddb.put_item(TableName=self._table, Item=item)


def put_back(pointers: Pointers, change: PointerChange) -> None:
    """Exactly what existed before the cutover: the previous value, or no pointer at all."""
    if change.previous_existed:
        pointers.put(change.parameter, change.previous)
    else:
        pointers.delete(change.parameter)


def _before(change: PointerChange) -> str | None:
    return change.previous if change.previous_existed else None


def _is_previous(change: PointerChange, value: str | None) -> bool:
    return value == change.previous if change.previous_existed else value in {None, change.previous}


def cutover(
    plan: Plan,
    registry: TableRegistry,
    tables: RestoreTables,
    ledger: CutoverLedger,
    pointers: Pointers,
    *,
    records: PointerRecords | None = None,
) -> dict[str, Any]:
    recorded = ledger.get(plan.execution)
    if recorded and recorded.status == SWITCHED:  # this execution's own switch: a retried step
        return _result(recorded.changes, "switched", recorded.extra.get("switched_at"))
    if recorded and recorded.status == ROLLED_BACK:
        raise CutoverConflict(f"the cutover of {plan.execution} was rolled back: nothing switched again")
    restore_point = plan.restore_time.isoformat() if plan.restore_time else None
    # An attempt that died or failed mid-switch is finished from its own record.
    changes = recorded.changes if recorded else _planned_changes(plan, registry)
    current = {c.parameter: pointers.get(c.parameter) for c in changes}
    foreign = [
        c for c in changes if current[c.parameter] != c.new and not _is_previous(c, current[c.parameter])
    ]
    if foreign:
        raise CutoverConflict(
            "live-table pointers changed since the plan: "
            + ", ".join(f"{c.logical} is {current[c.parameter]}" for c in foreign)
            + ": nothing switched",
            table=foreign[0].logical,
        )
    for change in changes:
        status, indexes = tables.status(change.new)
        if status != "ACTIVE" or any(s != "ACTIVE" for s in indexes.values()):
            raise CutoverConflict(f"{change.new} is not ACTIVE: nothing switched", table=change.logical)
    switched_at = recorded.extra.get("switched_at") if recorded else None
    switched_at = switched_at or datetime.now(UTC).isoformat()
    ledger.put(
        plan.execution, PENDING, changes, restore_point=restore_point, extra={"switched_at": switched_at}
    )
    _record(records, changes, plan.execution, switching=True)
    try:
        for change in changes:
            if current[change.parameter] != change.new:
                pointers.put(change.parameter, change.new)
    except Exception as exc:
        detail = _undo(changes, pointers)
        _record_actual(records, changes, pointers, plan.execution)
        message = f"pointer switch failed: {error_code(exc.__cause__ or exc)}; {detail}"
        try:
            ledger.put(plan.execution, FAILED, changes, restore_point=restore_point, extra={"error": message})
        except Exception:  # the record stays PENDING: a rollback still reads every pointer's state
            message += " (the cutover record still says PENDING)"
        raise CutoverFailed(message) from exc
    ledger.put(
        plan.execution, SWITCHED, changes, restore_point=restore_point, extra={"switched_at": switched_at}
    )
    _record(records, changes, plan.execution)
    return _result(changes, "switched", switched_at)


def _planned_changes(plan: Plan, registry: TableRegistry) -> list[PointerChange]:
    changes = []
    for planned in plan.tables:
        live = registry.resolve(planned.logical)
        if live.live_table not in {planned.source, planned.target}:
            raise CutoverConflict(
                f"live table of {planned.logical} is {live.live_table}, not {planned.source} as planned: "
                "nothing switched",
                table=planned.logical,
            )
        existed = live.pointer_exists and live.live_table == planned.source
        changes.append(
            PointerChange(planned.logical, live.pointer_parameter, planned.source, planned.target, existed)
        )
    return changes


def _undo(changes: list[PointerChange], pointers: Pointers) -> str:
    """Put back every pointer that points at its new table; say which could not be."""
    stuck = []
    for change in changes:
        try:
            if pointers.get(change.parameter) == change.new:
                put_back(pointers, change)
        except Exception as exc:  # report, keep undoing the others
            stuck.append(f"{change.logical} ({error_code(exc.__cause__ or exc)})")
    if stuck:
        return f"could NOT put back {', '.join(stuck)}: still on the restored table (run a rollback)"
    return "every pointer was put back"


def rollback(
    plan: Plan,
    registry: TableRegistry,
    ledger: CutoverLedger,
    pointers: Pointers,
    *,
    records: PointerRecords | None = None,
) -> dict[str, Any]:
    """Put back the pointers a restore execution switched, whatever state its cutover left them in
    (switched, half switched, failed mid-undo): pointer by pointer, safe to repeat."""
    assert plan.rollback_of
    recorded = ledger.get(plan.rollback_of)
    if recorded is None:
        raise RestoreRequestInvalid(f"no cutover recorded for execution {plan.rollback_of}")
    changes = recorded.changes
    current = {c.parameter: pointers.get(c.parameter) for c in changes}
    foreign = [
        c
        for c in changes
        if current[c.parameter] is not None
        and current[c.parameter] != c.new
        and not _is_previous(c, current[c.parameter])
    ]
    if foreign:
        raise CutoverConflict(
            "live-table pointers moved since that cutover (a later cutover?): "
            + ", ".join(f"{c.logical} is {current[c.parameter]}" for c in foreign)
            + ": nothing rolled back",
            table=foreign[0].logical,
        )
    switched = [c for c in changes if not _is_previous(c, current[c.parameter])]
    _record(records, switched, plan.execution, back=True, switching=True)
    for change in switched:
        put_back(pointers, change)
    _record(records, changes, plan.execution, back=True)
    if recorded.status != ROLLED_BACK or switched:  # the first rollback to finish is recorded
        ledger.put(
            plan.rollback_of,
            ROLLED_BACK,
            changes,
            restore_point=recorded.restore_point,
            extra={"rolled_back_by": plan.execution, "rolled_back_from": recorded.status},
        )
    by_another = recorded.extra.get("rolled_back_by") != plan.execution
    done_before = recorded.status == ROLLED_BACK and not switched and by_another
    status = "already-rolled-back" if done_before else "rolled-back"
    return {**_result(changes, status), "put_back": [c.logical for c in switched]}


def _result(changes: list[PointerChange], status: str, switched_at: str | None = None) -> dict[str, Any]:
    return {"status": status, "pointers": [asdict(c) for c in changes], "switched_at": switched_at}


def _record(
    records: PointerRecords | None,
    changes: list[PointerChange],
    execution: str,
    *,
    back: bool = False,
    switching: bool = False,
) -> None:
    """What each pointer must hold (pointers.py): the new table after a cutover, what existed before
    after a rollback; while switching, either value is expected."""
    if records is None:
        return
    for c in changes:
        target, other = (_before(c), c.new) if back else (c.new, _before(c))
        records.put(PointerRecord(c.logical, target, execution, switching_from=other, switching=switching))


def _record_actual(
    records: PointerRecords | None, changes: list[PointerChange], pointers: Pointers, execution: str
) -> None:
    """After a failed switch, record each pointer as it really is (put back, or still switched)."""
    if records is None:
        return
    for c in changes:
        # best effort: a pointer left unrecorded is reported by the publish as unexpected
        with contextlib.suppress(Exception):
            value = pointers.get(c.parameter)
            records.put(PointerRecord(c.logical, value if value is not None else _before(c), execution))
