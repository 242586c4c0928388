"""The repair state machine's Lambda steps (statemachines/repair.asl.json), one per `action`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.erasure import load_erasures
from dynamodb_dr.core.aws import AwsClients, aws_errors, error_code
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.errors import (
    DynamoDbDrError,
    RepairApplyFailed,
    RepairProofFailed,
    RepairRefused,
    RepairRequestInvalid,
)
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.repair import report as reports
from dynamodb_dr.repair.apply import ApplyDeps, apply_lane, writer_client
from dynamodb_dr.repair.backup import backup_status, take_backup
from dynamodb_dr.repair.coverage import CoverageEvidence
from dynamodb_dr.repair.estimate import estimate
from dynamodb_dr.repair.models import (
    PlanHeader,
    RepairRequest,
    RepairSettings,
    ResumeRequest,
    UndoRequest,
    parse_request,
)
from dynamodb_dr.repair.plan import PlanContext, plan_repair, plan_undo
from dynamodb_dr.repair.proof import prove
from dynamodb_dr.repair.sources import ArchiveVersions, FailureQueue, StreamTail
from dynamodb_dr.repair.store import RepairStore
from dynamodb_dr.repair.table import LiveTable, TableFacts

BACKUP_CHECKS = 120  # x 5 s in the ASL: ten minutes for the backup to become AVAILABLE
PROOF_ATTEMPTS = 6  # x 20 s in the ASL: two minutes for the archive to catch up


@dataclass
class StepEnv:
    settings: RepairSettings
    clients: AwsClients
    remaining_ms: Callable[[], int]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    @property
    def archive(self) -> ArchiveStore:
        return ArchiveStore(self.clients.client("s3"), self.settings.archive_bucket)

    @property
    def repairs(self) -> RepairStore:
        return RepairStore(self.clients.client("s3"), self.settings.archive_bucket)

    @property
    def table(self) -> LiveTable:
        return LiveTable(self.clients.client("dynamodb"), sleep=self.sleep)

    def header(self, event: dict[str, Any]) -> PlanHeader:
        plan = event.get("plan") if isinstance(event.get("plan"), dict) else event
        if not isinstance(plan, dict) or not plan.get("table") or not plan.get("repair_id"):
            raise RepairRequestInvalid("event names no stored repair plan (table, repair_id)")
        return self.repairs.header(str(plan["table"]), str(plan["repair_id"]))


def plan(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    request = parse_request(event.get("request"))
    execution = str(event["execution"])
    started = str(event.get("started_at") or env.now().isoformat())
    if isinstance(request, ResumeRequest):
        summary = _resume(request, env)
    else:
        context = PlanContext(
            archive=env.archive,
            repairs=env.repairs,
            table=env.table,
            registry=TableRegistry(env.settings, env.clients.client("ssm")),
            settings=env.settings,
            evidence=lambda facts: _evidence(env, facts),
            erasures=lambda table: load_erasures(
                env.clients.client("s3"), env.settings.archive_bucket, table
            ),
            now=env.now(),
        )
        if isinstance(request, UndoRequest):
            summary = plan_undo(request, execution, context)
        else:
            assert isinstance(request, RepairRequest)
            summary = plan_repair(request, execution, context)
    return {**summary, "execution": execution, "started_at": started}


def _evidence(env: StepEnv, facts: TableFacts) -> CoverageEvidence:
    queue = env.settings.cdc_failure_queue_url
    return CoverageEvidence(
        versions=ArchiveVersions(env.clients.client("s3"), env.settings.archive_bucket),
        failed_batches=FailureQueue(env.clients.client("sqs"), queue).batches() if queue else None,
        stream_tail=StreamTail(env.clients.client("dynamodbstreams")),
        live_stream_arn=facts.stream_arn,
        stream_limit=env.settings.stream_check_records,
    )


def _resume(request: ResumeRequest, env: StepEnv) -> dict[str, Any]:
    """Continue a stored plan from its checkpoints (never while its own execution still runs)."""
    repairs = env.repairs
    header = repairs.header(repairs.table_of(request.resume), request.resume)
    if _running(env, request.resume):
        raise RepairRefused(f"repair {request.resume} is still running: resume it only after it stopped")
    live = TableRegistry(env.settings, env.clients.client("ssm")).resolve(header.table).live_table
    if live != header.live_table:
        raise RepairRefused(
            f"{header.table}'s live table changed since the plan ({header.live_table} -> {live})",
            table=header.table,
        )
    summary = {
        k: v
        for k, v in header.summary.items()
        if k not in ("capacity", "capacity_source", "share", "key_names")
    }
    return {
        **summary,
        "resumed": True,
        "dry_run": False,
        "stored": True,
        "estimate": estimate(header, env.settings),
    }


def _running(env: StepEnv, repair_id: str) -> bool:
    machine = env.settings.repair_state_machine_arn
    if not machine:
        return False
    arn = machine.replace(":stateMachine:", ":execution:") + f":{repair_id}"
    try:
        with aws_errors():
            return (
                env.clients.client("stepfunctions").describe_execution(executionArn=arn)["status"]
                == "RUNNING"
            )
    except DynamoDbDrError as exc:
        if error_code(exc.__cause__ or exc) in ("ExecutionDoesNotExist", "ResourceNotFound"):
            return False
        raise


def backup(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    header = env.header(event)
    client = env.clients.client("dynamodb")
    record = take_backup(
        header,
        dynamo=DynamoControl(client, single_attempt_client=env.clients.client("dynamodb", retries=False)),
        ledger=client,
        state_table=env.settings.state_table,
        store=env.repairs,
        now=env.now(),
        sleep=env.sleep,
    )
    return _backup_state(record, backup_status(client, str(record["arn"])), env, attempt=0)


def check_backup(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    header = env.header(event)
    record = env.repairs.record(header, "backup") or {}
    if not record.get("arn"):
        raise RepairApplyFailed("the repair's backup record is missing", table=header.table)
    attempt = int((event.get("backup") or {}).get("attempt") or 0) + 1
    status = backup_status(env.clients.client("dynamodb"), str(record["arn"]))
    if status not in ("CREATING", "AVAILABLE"):
        raise RepairApplyFailed(
            f"the repair's backup {record['name']} is {status}: nothing was written", table=header.table
        )
    if status != "AVAILABLE" and attempt >= BACKUP_CHECKS:
        raise RepairApplyFailed(
            f"the repair's backup {record['name']} is still {status}: nothing was written", table=header.table
        )
    return _backup_state(record, status, env, attempt)


def _backup_state(record: dict[str, Any], status: str, env: StepEnv, attempt: int) -> dict[str, Any]:
    requested = datetime.fromisoformat(str(record["requested_at"]))
    settle_until = requested + timedelta(seconds=env.settings.backup_settle_seconds)
    settle = max(0, int((settle_until - env.now()).total_seconds()) + 1)
    return {
        "name": record["name"],
        "arn": record["arn"],
        "status": status,
        "attempt": attempt,
        "settle_seconds": settle,
    }


def apply(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    header = env.header(event)
    lane = int(event["lane"])
    if not 0 <= lane < len(header.lanes):
        raise RepairRequestInvalid(f"repair {header.repair_id} has no lane {lane}")
    deps = ApplyDeps(
        store=env.repairs,
        reader=env.table,
        writer_client=writer_client(env.clients, env.settings.repair_workers),
        workers=env.settings.repair_workers,
        remaining_seconds=lambda: env.remaining_ms() / 1000,
        sleep=env.sleep,
    )
    progress = apply_lane(header, lane, deps)
    return progress.model_dump(mode="json")


def prove_step(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    header = env.header(event)
    lanes = list(event.get("apply") or [])
    attempt = int((event.get("proof") or {}).get("attempt") or 0) + 1
    first = reports.applied_totals(lanes).get("first_write")
    result = prove(
        header,
        env.repairs,
        env.table,
        env.archive,
        first_write=datetime.fromisoformat(first) if first else None,
        now=env.now(),
    )
    result["attempt"] = attempt
    if result["overwrote_unplanned"]:
        raise RepairProofFailed(
            f"{result['overwrote_unplanned']} repair write(s) replaced an item that changed after the plan "
            f'(an attribute added just before the write): undo them with {{"undo": "{header.repair_id}"}}',
            table=header.table,
        )
    if result["unexplained"]:
        if attempt < PROOF_ATTEMPTS:
            return {**result, "status": "pending"}
        raise RepairProofFailed(
            f"{result['unexplained']} of {result['checked']} repaired keys differ from their planned image "
            "and no archived change explains it",
            table=header.table,
        )
    return {**result, "status": "proven"}


def report(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """The report: returned without keys (it lands in the execution history), stored and sent
    with the plan's sample of affected keys."""
    state = event.get("state") or {}
    result = reports.build_report(state, env.now())
    table, repair_id = str(result.get("table")), str(result.get("repair_id"))
    full = {**result, **env.repairs.sample(table, repair_id)}
    result["report_object"] = (
        f"s3://{env.settings.archive_bucket}/{env.repairs.save_report(table, repair_id, full)}"
    )
    result["notified"] = _notify(env, reports.subject(result), full)
    return result


def fail(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """Notify what the failed repair applied and how to resume or undo it; never writes the table."""
    state = event.get("state") or {}
    lanes = list(state.get("apply") or [])
    plan_state = state.get("plan") or {}
    if not lanes and plan_state.get("stored"):
        try:  # the Map failed: read the lanes' checkpoints instead of its (lost) results
            header = env.header(plan_state)
            lanes = [env.repairs.progress(header, lane.lane).model_dump(mode="json") for lane in header.lanes]
        except DynamoDbDrError:
            lanes = []
    message = reports.failure_message(state, lanes)
    table = plan_state.get("table") or "?"
    subject = f"dynamodb-dr repair FAILED ({table}): {message.get('error') or 'unknown'}"
    return {"notified": _notify(env, subject, message), "applied": message.get("applied")}


def _notify(env: StepEnv, subject: str, message: dict[str, Any]) -> bool:
    topic = env.settings.repair_topic_arn
    if not topic:
        return False
    with aws_errors():
        env.clients.client("sns").publish(
            TopicArn=topic, Subject=subject[:100], Message=reports.body(message)
        )
    return True


ACTIONS: dict[str, Callable[[dict[str, Any], StepEnv], dict[str, Any]]] = {
    "plan": plan,
    "backup": backup,
    "check_backup": check_backup,
    "apply": apply,
    "prove": prove_step,
    "report": report,
    "fail": fail,
}
