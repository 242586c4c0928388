"""Cutover: switch every restored table's live-table pointer at once, and roll it back.

All or none: the current pointers must still be what the plan saw, the switch is recorded in the
state table first (previous and new values), and a failed write puts back every pointer already
switched. Old tables are never touched.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
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
    previous: str
    new: str


class CutoverLedger:
    """One item per restore execution: pk RESTORE#<execution>, sk CUTOVER."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._ddb, self._table = dynamodb, table

    @staticmethod
    def _key(execution: str) -> dict[str, Any]:
        return {"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": "CUTOVER"}}

    def get(self, execution: str) -> dict[str, Any] | None:
        with aws_errors():
            item = self._ddb.get_item(
                TableName=self._table, Key=self._key(execution), ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        return {
            "status": item["status"]["S"],
            "changes": [PointerChange(**c) for c in json.loads(item["changes"]["S"])],
            "restore_point": item.get("restore_point", {}).get("S"),
        }

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

    def put(self, parameter: str, value: str) -> None:
        with aws_errors():
            self._ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)

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

    def switch(self, changes: list[PointerChange], *, back: bool = False) -> None:
        """Write every pointer (to `new`, or to `previous` when `back`); undo all on a failure."""
        done: list[PointerChange] = []
        try:
            for change in changes:
                self.put(change.parameter, change.previous if back else change.new)
                done.append(change)
        except Exception as exc:
            undo_errors = []
            for change in reversed(done):
                try:
                    self.put(change.parameter, change.new if back else change.previous)
                except Exception as undo_exc:  # report, keep undoing the others
                    undo_errors.append(f"{change.parameter}: {error_code(undo_exc.__cause__ or undo_exc)}")
            detail = f"; could NOT put back {undo_errors}" if undo_errors else "; every pointer was put back"
            raise CutoverFailed(f"pointer switch failed: {error_code(exc.__cause__ or exc)}{detail}") from exc


def cutover(
    plan: Plan,
    registry: TableRegistry,
    tables: RestoreTables,
    ledger: CutoverLedger,
    pointers: Pointers,
) -> dict[str, Any]:
    recorded = ledger.get(plan.execution)
    if recorded and recorded["status"] == SWITCHED:  # a retried invocation: already done
        return _result(recorded["changes"], "already-switched")
    # An attempt that died mid-switch (PENDING) may have moved some pointers already.
    resumable = bool(recorded and recorded["status"] == PENDING)
    changes: list[PointerChange] = []
    for planned in plan.tables:
        live = registry.resolve(planned.logical)
        if live.live_table != planned.source and not (resumable and live.live_table == planned.target):
            raise CutoverConflict(
                f"live table of {planned.logical} is {live.live_table}, not {planned.source} as planned: "
                "nothing switched",
                table=planned.logical,
            )
        status, indexes = tables.status(planned.target)
        if status != "ACTIVE" or any(s != "ACTIVE" for s in indexes.values()):
            raise CutoverConflict(f"{planned.target} is not ACTIVE: nothing switched", table=planned.logical)
        changes.append(PointerChange(planned.logical, live.pointer_parameter, planned.source, planned.target))
    restore_point = plan.restore_time.isoformat() if plan.restore_time else None
    ledger.put(plan.execution, PENDING, changes, restore_point=restore_point)
    try:
        pointers.switch(changes)
    except CutoverFailed as exc:
        ledger.put(
            plan.execution, FAILED, changes, restore_point=restore_point, extra={"error": str(exc)[:500]}
        )
        raise
    ledger.put(plan.execution, SWITCHED, changes, restore_point=restore_point)
    return _result(changes, "switched")


def rollback(
    plan: Plan, registry: TableRegistry, ledger: CutoverLedger, pointers: Pointers
) -> dict[str, Any]:
    """Put back the pointers a previous restore execution switched (all or none)."""
    assert plan.rollback_of
    recorded = ledger.get(plan.rollback_of)
    if recorded is None:
        raise RestoreRequestInvalid(f"no cutover recorded for execution {plan.rollback_of}")
    if recorded["status"] == ROLLED_BACK:
        return _result(recorded["changes"], "already-rolled-back")
    if recorded["status"] != SWITCHED:
        raise RestoreRequestInvalid(f"cutover of {plan.rollback_of} is {recorded['status']}, not SWITCHED")
    changes: list[PointerChange] = recorded["changes"]
    for change in changes:
        current = registry.resolve(change.logical).live_table
        if current != change.new:
            raise CutoverConflict(
                f"live table of {change.logical} is {current}, not {change.new}: a later cutover? nothing "
                "rolled back",
                table=change.logical,
            )
    pointers.switch(changes, back=True)
    ledger.put(
        plan.rollback_of,
        ROLLED_BACK,
        changes,
        restore_point=recorded["restore_point"],
        extra={"rolled_back_by": plan.execution},
    )
    return _result(changes, "rolled-back")


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
