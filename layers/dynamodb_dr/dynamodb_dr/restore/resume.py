"""Resume a failed or timed-out restore on the tables it restored, instead of restoring again.

The original execution's plan is kept in the state table (`RESTORE#<execution>`, sk `PLAN`) when
its restores start. A resume request (`{"resume": {"execution": "<name>"}}`) is accepted only when
that execution is no longer running and never reached a cutover, and every table it planned exists,
carries its tags and is a restore of the same source to the same point in time. The resumed run
then polls, re-applies settings, validates, asks for approval and cuts over as usual; explicit
fields of the request (cutover, validation, catch_up, on_failure, accept_setting_differences,
restore_timeout_minutes) replace the original's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import RestoreRequestInvalid
from dynamodb_dr.restore.excerpts import excerpt
from dynamodb_dr.restore.models import Plan, RestoreRequest
from dynamodb_dr.restore.ownership import TargetReservations, claim_untagged
from dynamodb_dr.restore.plan import PlanContext, poll_plan

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

OVERRIDABLE = (
    "cutover",
    "validation",
    "catch_up",
    "on_failure",
    "accept_setting_differences",
    "restore_timeout_minutes",
)


class PlanStore:
    """The plan of every execution that started restores."""

    def __init__(self, dynamodb: DynamoDBClient, state_table: str) -> None:
        self._ddb, self._table = dynamodb, state_table

    @staticmethod
    def _key(execution: str) -> dict[str, Any]:
        return {"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": "PLAN"}}

    def save(self, plan: Plan) -> None:
        item = {**self._key(plan.execution), "plan": {"S": plan.model_dump_json()}}
        with aws_errors():
            self._ddb.put_item(TableName=self._table, Item=item)

    def get(self, execution: str) -> Plan | None:
        with aws_errors():
            item = self._ddb.get_item(
                TableName=self._table, Key=self._key(execution), ConsistentRead=True
            ).get("Item")
        return Plan.model_validate_json(item["plan"]["S"]) if item else None


def resume_plan(
    request: RestoreRequest, *, execution: str, started_at: datetime, context: PlanContext
) -> Plan:
    assert request.resume
    name = request.resume.execution
    resumable = context.resumable
    if resumable is None:
        raise RestoreRequestInvalid("resuming needs the state machine's context (start it as an execution)")
    original = resumable.plans.get(name)
    if original is None or original.mode != "restore" or not original.restore_time:
        raise RestoreRequestInvalid(f"no started restore recorded for execution {name}: nothing to resume")
    status = resumable.execution_status(name)
    if status == "RUNNING":
        raise RestoreRequestInvalid(f"execution {name} is still running: follow it, or stop it first")
    cutover = resumable.cutover_status(name)
    if cutover is not None:
        raise RestoreRequestInvalid(
            f"execution {name} reached its cutover ({cutover}): roll it back or start a new restore"
        )
    tables = context.tables
    for t in original.tables:
        if not tables.exists(t.target):
            raise RestoreRequestInvalid(f"{t.target}, restored by {name}, no longer exists", table=t.logical)
        owned = tables.created_by(t.target, original.table_owner) or claim_untagged(
            tables, resumable.reservations, original, t.target
        )
        if not owned:
            raise RestoreRequestInvalid(f"{t.target} is not tagged as restored by {name}", table=t.logical)
        if not tables.restored_from(t.target, t.source_arn, original.restore_time):
            raise RestoreRequestInvalid(
                f"{t.target} is not a restore of {t.source} to {original.restore_time.isoformat()}",
                table=t.logical,
            )
    explicit = {k: getattr(request, k) for k in OVERRIDABLE if k in request.model_fields_set}
    unknown = sorted(
        set(explicit.get("validation", original.validation).expected) - {t.logical for t in original.tables}
    )
    if unknown:
        raise RestoreRequestInvalid(
            f"validation.expected names tables the resumed run did not restore: {excerpt(unknown, 200)}"
        )
    timeout = explicit.pop("restore_timeout_minutes", None)
    expected = original.estimate
    return original.model_copy(
        update={
            **explicit,
            "execution": execution,
            "started_at": started_at,
            "owner": original.table_owner,
            "resume": True,
            "resumed_from": name,
            "poll": poll_plan(expected, timeout, context.limit_hours) if expected else original.poll,
        }
    )


class Resumable:
    """What a resume checks about the original execution (adapters injected by the step)."""

    def __init__(
        self,
        plans: PlanStore,
        reservations: TargetReservations,
        execution_status: Callable[[str], str | None],
        cutover_status: Callable[[str], str | None],
    ) -> None:
        self.plans = plans
        self.reservations = reservations
        self.execution_status = execution_status
        self.cutover_status = cutover_status
