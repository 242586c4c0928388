"""Scheduled S3 exports: follow in-flight exports, then start this tick's FULL or INCREMENTAL export."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.errors import ExportRunFailed
from dynamodb_dr.core.fleet import fan_out_run
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.core.registry import TableRegistry, fleet_settings
from dynamodb_dr.exports.api import ChainIndex, DynamoExports, Notifier
from dynamodb_dr.exports.chain import ExportChainStore
from dynamodb_dr.exports.expiry import ExportTagger
from dynamodb_dr.exports.schedule import (
    ExportDependencies,
    ExportRunReport,
    ExportSettings,
    ExportTick,
    run_exports,
)

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tick = parse(event=event, model=ExportTick)
    settings, clients = fleet_settings(ExportSettings, os.environ)  # names + tables tagged for the stack
    if (fanned := fan_out_run(event, settings, clients, context.function_name)) is not None:
        return fanned  # a fleet larger than one chunk: one asynchronous run per chunk
    dynamodb = clients.client("dynamodb")
    deps = ExportDependencies(
        registry=TableRegistry(settings, clients.client("ssm")),
        dynamo=DynamoControl(dynamodb),
        exports=DynamoExports(dynamodb),
        store=ExportChainStore(dynamodb, settings.state_table),
        index=ChainIndex(lambda: clients.client("s3"), settings.export_bucket, settings.export_prefix),
        notifier=Notifier(lambda: clients.client("sns"), settings.export_topic_arn),
        tagger=ExportTagger(lambda: clients.client("s3"), settings.export_bucket),
    )
    report = run_exports(tick, settings, deps)
    _publish(report, settings)
    if report.failed_tables:
        raise ExportRunFailed(
            f"export run {report.task} {report.tick} failed for tables {report.failed_tables}"
        )
    return {"task": report.task, "tick": report.tick, "tables": [asdict(t) for t in report.tables]}


def _publish(report: ExportRunReport, settings: Settings) -> None:
    # Stack-wide counts (service dimension only) feed the template's alarms.
    metrics.add_metric(name="ExportRunTablesFailed", unit=MetricUnit.Count, value=len(report.failed_tables))
    metrics.add_metric(name="ExportChainGaps", unit=MetricUnit.Count, value=sum(t.gap for t in report.tables))
    metrics.add_metric(
        name="ExportFailures", unit=MetricUnit.Count, value=sum(len(t.failed_exports) for t in report.tables)
    )
    service = metrics.service or "dynamodb-dr"
    for result in report.tables:
        log = logger.info if result.ok else logger.error
        log("table exports" if result.ok else "table export failed", extra={"result": asdict(result)})
        # Per-table series cost $0.30 a month each while they are sent: the posture function already
        # publishes each table's export ages, failures and gaps, so this run sends per-table values
        # only for what happened (docs/cost.md, "CloudWatch metrics").
        events = {
            "ExportFailures": len(result.failed_exports) + (0 if result.ok else 1),
            "ExportChainGaps": 1 if result.gap else 0,
        }
        emit_table_metrics(settings.metrics_namespace, service, result.logical_name, _nonzero(events))


def _nonzero(values: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in values.items() if value}
