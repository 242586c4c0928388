"""The AWS side of rehearsals: the restore state machine (start, describe, what is running) and
the scratch tables' clean-up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.restore.disposal import Disposal
from dynamodb_dr.restore.tables import TAG_EXECUTION, RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class ExecutionState:
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    started: datetime
    stopped: datetime | None = None
    error: str | None = None


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

    def running(self) -> list[str]:
        """Names of the restore executions running now (operators' and rehearsals')."""
        pages = self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._arn, statusFilter="RUNNING"
        )
        with aws_errors():
            return [e["name"] for page in pages for e in page.get("executions", [])]


class ScratchTables:
    """What clean-up needs: the restore's own table adapter and its disposal (a scratch table goes
    with everything the tool set up for it)."""

    def __init__(self, dynamodb: DynamoDBClient, disposal: Disposal) -> None:
        self._tables = RestoreTables(dynamodb)
        self._disposal = disposal

    def execution_tag(self, table: str) -> str | None:
        """The restore execution that created `table`; raises TableNotFound when it is gone."""
        return self._tables.tags(table).get(TAG_EXECUTION)

    def delete(self, table: str) -> None:
        self._disposal.dispose(table)
