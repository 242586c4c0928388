"""What every restore step runs with: settings, clients, and the adapters built on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import AwsClients, aws_errors, error_code
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.core.state_table import put_if_absent
from dynamodb_dr.posture.rto_history import RtoHistoryStore, latest_measured
from dynamodb_dr.restore.config import RestoreSettings
from dynamodb_dr.restore.cutover import CutoverLedger
from dynamodb_dr.restore.disposal import Disposal
from dynamodb_dr.restore.durations import Rehearsed
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.ownership import TargetReservations
from dynamodb_dr.restore.plan import PlanContext
from dynamodb_dr.restore.pointers import PointerRecords
from dynamodb_dr.restore.resume import PlanStore, Resumable
from dynamodb_dr.restore.table_settings import TableSettings
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


class Once:
    """Markers in the state table (`RESTORE#<execution>`, sk = what): the first caller wins, so a
    retried step does not announce the same news twice."""

    def __init__(self, dynamodb: DynamoDBClient, state_table: str) -> None:
        self._ddb, self._table = dynamodb, state_table

    def first(self, execution: str, what: str) -> bool:
        item = {"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": what}}
        return put_if_absent(self._ddb, self._table, item, label=execution)


@dataclass
class StepEnv:
    settings: RestoreSettings
    clients: AwsClients
    remaining_ms: Callable[[], int]

    @property
    def topic_arn(self) -> str | None:
        return self.settings.restore_topic_arn

    @property
    def archive_bucket(self) -> str | None:
        return self.settings.archive_bucket

    @property
    def tables(self) -> RestoreTables:
        return RestoreTables(self.clients.client("dynamodb"))

    @property
    def reservations(self) -> TargetReservations:
        return TargetReservations(self.clients.client("dynamodb"), self.settings.state_table)

    @property
    def alerts(self) -> Once:
        return Once(self.clients.client("dynamodb"), self.settings.state_table)

    @property
    def plans(self) -> PlanStore:
        return PlanStore(self.clients.client("dynamodb"), self.settings.state_table)

    @property
    def registry(self) -> TableRegistry:
        return TableRegistry(self.settings, self.clients.client("ssm"))

    @property
    def disposal(self) -> Disposal:
        c = self.clients.client
        return Disposal(c("dynamodb"), c("cloudwatch"), c("application-autoscaling"))

    @property
    def table_settings(self) -> TableSettings:
        c = self.clients.client
        own = (self.settings.cdc_archiver_function,) if self.settings.cdc_archiver_function else ()
        return TableSettings(
            c("dynamodb"), c("application-autoscaling"), c("cloudwatch"), c("lambda"), own_readers=own
        )

    def planning(self, state_machine_arn: str | None) -> PlanContext:
        history = RtoHistoryStore(self.clients.client("dynamodb"), self.settings.state_table)

        def rehearsed(logical: str) -> Rehearsed | None:
            try:
                measured = latest_measured(history.history(logical))
            except Exception:  # no history is no estimate, never a refused restore
                return None
            if measured is None or measured.measured_seconds is None:
                return None
            return Rehearsed(measured.measured_seconds, measured.tick)

        resumable = None
        if state_machine_arn:
            ledger = CutoverLedger(self.clients.client("dynamodb"), self.settings.state_table)

            def cutover_status(execution: str) -> str | None:
                record = ledger.get(execution)
                return record.status if record else None

            resumable = Resumable(
                self.plans, self.reservations, self._execution_status(state_machine_arn), cutover_status
            )
        records = PointerRecords(self.clients.client("dynamodb"), self.settings.state_table)

        def recorded_pointer(logical: str) -> str | None:
            record = records.get(logical)
            return record.value if record else None

        return PlanContext(
            settings=self.settings,
            registry=self.registry,
            tables=self.tables,
            limit_hours=self.settings.restore_time_limit_hours,
            rehearsed=rehearsed,
            resumable=resumable,
            recorded_pointer=recorded_pointer,
        )

    def _execution_status(self, state_machine_arn: str) -> Callable[[str], str | None]:
        sfn = self.clients.client("stepfunctions")
        prefix = state_machine_arn.replace(":stateMachine:", ":execution:")

        def status(name: str) -> str | None:
            try:
                with aws_errors():
                    return str(sfn.describe_execution(executionArn=f"{prefix}:{name}")["status"])
            except Exception as exc:
                if error_code(exc.__cause__ or exc) in {"ExecutionDoesNotExist", "TableNotFound"}:
                    return None
                raise

        return status


def plan_of(event: dict[str, Any]) -> Plan:
    if not isinstance(event.get("plan"), dict):
        raise InvalidInput("event has no plan")
    return Plan.model_validate(event["plan"])
