"""Scheduled backup: keep PITR on, take one on-demand backup per tick, prune by retention."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.backup.ledger import BackupLedger
from dynamodb_dr.backup.run import (
    BackupDependencies,
    BackupRunReport,
    BackupSettings,
    run_backups,
    system_clock,
)
from dynamodb_dr.core.config import resolve_policies
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.errors import BackupRunFailed
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.fleet import fan_out_run
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.core.registry import TableRegistry, fleet_settings

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tick = parse(event=event, model=ScheduleTick)
    settings, clients = fleet_settings(BackupSettings, os.environ)  # names + tables tagged for the stack
    if (fanned := fan_out_run(event, settings, clients, context.function_name)) is not None:
        return fanned  # a fleet larger than one chunk: one asynchronous run per chunk
    registry = TableRegistry(settings, clients.client("ssm"))
    policies = resolve_policies(settings, registry.policy_document())
    deps = BackupDependencies(
        registry=registry,
        dynamo=DynamoControl(
            clients.client("dynamodb"), single_attempt_client=clients.client("dynamodb", retries=False)
        ),
        ledger=BackupLedger(clients.client("dynamodb"), settings.state_table),
        clock=system_clock(timedelta(milliseconds=context.get_remaining_time_in_millis())),
    )
    report = run_backups(tick, settings, policies, deps)
    _publish(report, settings)
    metrics.add_metric(name="BackupRunTablesFailed", unit=MetricUnit.Count, value=len(report.failed_tables))
    if report.failed_tables:
        raise BackupRunFailed(f"backup run {report.tick} failed for tables {report.failed_tables}")
    return {"tick": report.tick, "tables": [asdict(t) for t in report.tables]}


def _publish(report: BackupRunReport, settings: BackupSettings) -> None:
    for result in report.tables:
        log = logger.info if result.ok else logger.error
        log("table protected" if result.ok else "table failed", extra={"result": asdict(result)})
        emit_table_metrics(
            settings.metrics_namespace,
            metrics.service or "dynamodb-dr",
            result.logical_name,
            # BackupFailures and BackupsKept on every run (alarms and the dashboard read them); the
            # event counters only when something happened: a series costs while it is sent.
            {
                "BackupFailures": 0 if result.ok else 1,
                "BackupsKept": result.kept,
                **{
                    name: value
                    for name, value in {
                        "BackupsCreated": 1 if result.backup == "created" else 0,
                        "BackupsDeleted": len(result.deleted),
                        "PitrRepaired": 1 if result.pitr == "repaired" else 0,
                        "PitrDisabled": 1 if result.pitr == "disabled" else 0,
                        "DrReplicaAdded": 1 if result.replica == "added" else 0,
                    }.items()
                    if value
                },
            },
        )
