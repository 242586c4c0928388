"""Restore rehearsals: `rehearse` starts one no-cutover restore per table (monthly schedule);
`follow_up` records measured restore times and deletes the scratch tables (frequent schedule)."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import ConfigurationError, RehearsalRunFailed
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.core.registry import TableRegistry, with_fleet
from dynamodb_dr.posture.rehearsal import (
    RehearsalRun,
    RehearsalTick,
    ScratchTables,
    StepFunctionsStarter,
    follow_up,
    start_rehearsals,
)
from dynamodb_dr.posture.rto_history import RtoHistoryStore

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tick = parse(event=event, model=RehearsalTick)
    settings = Settings.from_env(os.environ)
    machine = os.environ.get("RESTORE_STATE_MACHINE_ARN") or ""
    if not machine:
        raise ConfigurationError("missing environment variable RESTORE_STATE_MACHINE_ARN")
    clients = warm_clients(os.environ)
    settings = with_fleet(settings, clients)  # names + tables tagged for the stack
    ddb = clients.client("dynamodb")
    store = RtoHistoryStore(ddb, settings.state_table)
    starter = StepFunctionsStarter(clients.client("stepfunctions"), machine)
    now = datetime.now(UTC)
    if tick.task == "rehearse":
        run = start_rehearsals(tick, settings, store, starter, now)
    else:
        registry = TableRegistry(settings, clients.client("ssm"))
        run = follow_up(
            settings, store=store, starter=starter, tables=ScratchTables(ddb), registry=registry, now=now
        )
    _publish(tick.task, run, settings)
    if run.failed:
        raise RehearsalRunFailed(f"rehearsal {tick.task} failed for tables {sorted(run.failed)}")
    return {"task": tick.task, **asdict(run)}


def _publish(task: str, run: RehearsalRun, settings: Settings) -> None:
    service = metrics.service or "rehearsal"
    logger.info("rehearsal run", extra={"task": task, "run": asdict(run)})
    metrics.add_metric(name="RehearsalsStarted", unit=MetricUnit.Count, value=len(run.started))
    metrics.add_metric(name="RehearsalRunTablesFailed", unit=MetricUnit.Count, value=len(run.failed))
    for done in run.finished:
        values = {"RehearsalFailures": 0 if done["status"] == "SUCCEEDED" else 1}
        emit_table_metrics(settings.metrics_namespace, service, done["logical_name"], values)
        if done["status"] == "SUCCEEDED" and done["measured_seconds"] is not None:
            emit_table_metrics(
                settings.metrics_namespace,
                service,
                done["logical_name"],
                {"RehearsalRestoreSeconds": done["measured_seconds"]},
                MetricUnit.Seconds,
            )
