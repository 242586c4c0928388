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

from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import RehearsalRunFailed
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.core.registry import TableRegistry, fleet_settings
from dynamodb_dr.posture.rehearsal import (
    RehearsalRun,
    RehearsalSettings,
    RehearsalTick,
    follow_up,
    start_rehearsals,
)
from dynamodb_dr.posture.rehearsal_aws import ScratchTables, StepFunctionsStarter
from dynamodb_dr.posture.rto_history import RtoHistoryStore
from dynamodb_dr.restore.disposal import Disposal

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tick = parse(event=event, model=RehearsalTick)
    settings, clients = fleet_settings(RehearsalSettings, os.environ)  # names + tables tagged for the stack
    ddb = clients.client("dynamodb")
    store = RtoHistoryStore(ddb, settings.state_table)
    starter = StepFunctionsStarter(clients.client("stepfunctions"), settings.restore_state_machine_arn)
    now, limit = datetime.now(UTC), settings.rehearsal_max_concurrent
    if tick.task == "rehearse":
        run = start_rehearsals(tick, settings, store, starter, now, max_concurrent=limit)
    else:
        registry = TableRegistry(settings, clients.client("ssm"))
        disposal = Disposal(ddb, clients.client("cloudwatch"), clients.client("application-autoscaling"))
        scratch = ScratchTables(ddb, disposal)
        run = follow_up(
            settings,
            store=store,
            starter=starter,
            tables=scratch,
            registry=registry,
            now=now,
            max_concurrent=limit,
        )
    _publish(tick.task, run, settings)
    if run.failed:
        raise RehearsalRunFailed(f"rehearsal {tick.task} failed for tables {sorted(run.failed)}")
    return {"task": tick.task, **asdict(run)}


def _publish(task: str, run: RehearsalRun, settings: Settings) -> None:
    service = metrics.service or "rehearsal"
    logger.info("rehearsal run", extra={"task": task, "run": asdict(run)})
    metrics.add_metric(name="RehearsalsStarted", unit=MetricUnit.Count, value=len(run.started))
    metrics.add_metric(name="RehearsalsQueued", unit=MetricUnit.Count, value=len(run.queued))
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
