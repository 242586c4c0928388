"""Cutover: switch every restored table's live-table pointer, and roll it back, pointer by pointer.

The switch is recorded in the state table first (each pointer's previous and new value, and whether
it existed), so any later step can tell every pointer's state from the record and the pointer's
current value: a retried or resumed cutover finishes what an earlier attempt started, a failed one
puts back what it switched, and a rollback puts back exactly what existed (an absent pointer stays
absent) whatever state a cutover left. Old tables are never touched here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import CutoverConflict, CutoverFailed, RestoreRequestInvalid
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_ssm import SSMClient

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


class Pointers:
    def __init__(self, ssm: SSMClient) -> None:
        self._ssm = ssm

    def get(self, parameter: str) -> str | None:
        try:
            with aws_errors():
                return str(self._ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterNotFound":
                return None
            raise

    def put(self, parameter: str, value: str) -> None:
        with aws_errors():
            self._ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)

    def delete(self, parameter: str) -> None:
        try:
            with aws_errors():
                self._ssm.delete_parameter(Name=parameter)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ParameterNotFound":
                raise

    def create_if_missing(self, parameter: str, value: str) -> bool:
        """Create a pointer that does not exist yet; never overwrites one (a cutover's)."""
        try:
            with aws_errors():
                self._ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=False)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterAlreadyExists":
                return False
            raise
        return True

    def put_back(self, change: PointerChange) -> None:
        """Exactly what existed before the cutover: the previous value, or no pointer at all."""
        if change.previous_existed:
            self.put(change.parameter, change.previous)
        else:
            self.delete(change.parameter)


def _is_previous(change: PointerChange, value: str | None) -> bool:
    return value == change.previous if change.previous_existed else value in {None, change.previous}


def cutover(
    plan: Plan,
    registry: TableRegistry,
    tables: RestoreTables,
    ledger: CutoverLedger,
    pointers: Pointers,
) -> dict[str, Any]:
    recorded = ledger.get(plan.execution)
    if recorded and recorded.status == SWITCHED:  # this execution's own switch: a retried step
        return _result(recorded.changes, "switched")
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
    ledger.put(plan.execution, PENDING, changes, restore_point=restore_point)
    try:
        for change in changes:
            if current[change.parameter] != change.new:
                pointers.put(change.parameter, change.new)
    except Exception as exc:
        detail = _undo(changes, pointers)
        message = f"pointer switch failed: {error_code(exc.__cause__ or exc)}; {detail}"
        try:
            ledger.put(plan.execution, FAILED, changes, restore_point=restore_point, extra={"error": message})
        except Exception:  # the record stays PENDING: a rollback still reads every pointer's state
            message += " (the cutover record still says PENDING)"
        raise CutoverFailed(message) from exc
    ledger.put(plan.execution, SWITCHED, changes, restore_point=restore_point)
    return _result(changes, "switched")


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
                pointers.put_back(change)
        except Exception as exc:  # report, keep undoing the others
            stuck.append(f"{change.logical} ({error_code(exc.__cause__ or exc)})")
    if stuck:
        return f"could NOT put back {', '.join(stuck)}: still on the restored table (run a rollback)"
    return "every pointer was put back"


def rollback(
    plan: Plan, registry: TableRegistry, ledger: CutoverLedger, pointers: Pointers
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
    for change in switched:
        pointers.put_back(change)
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


def _result(changes: list[PointerChange], status: str) -> dict[str, Any]:
    return {"status": status, "pointers": [asdict(c) for c in changes]}


def publish_pointers(settings: Settings, pointers: Pointers) -> list[str]:
    """Give every protected table its live-table pointer (the table itself) if it has none yet,
    so applications can always read one. Existing pointers, e.g. after a cutover, stay as they
    are. Returns the parameters created."""
    return [
        settings.live_table_parameter(logical)
        for logical in settings.protected_tables
        if pointers.create_if_missing(settings.live_table_parameter(logical), logical)
    ]
