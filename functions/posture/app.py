"""Scheduled DR posture check: per-table RPO/RTO posture as CloudWatch metrics (EMF)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.fleet import fan_out_run, only_tables
from dynamodb_dr.core.registry import fleet_settings
from dynamodb_dr.posture.metrics import emit
from dynamodb_dr.posture.run import PostureSettings, build_sources, run_posture

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The schedule's input only triggers the run; posture is always measured at "now".
    settings, clients = fleet_settings(PostureSettings, os.environ)  # names + tables tagged for the stack
    if (fanned := fan_out_run(event, settings, clients, context.function_name)) is not None:
        return fanned  # a fleet larger than one chunk: one asynchronous run per chunk
    settings = only_tables(settings, event)
    sources = build_sources(settings, clients, settings.config())
    report = run_posture(settings, sources, datetime.now(UTC))
    emit(report, settings.metrics_namespace, metrics.service or "posture")
    for table in report.tables:
        # Statuses, ages and error codes only: never item contents.
        log = logger.error if table.status == "failed" else logger.info
        log("table posture", extra={"posture": table.model_dump(mode="json", exclude={"rto"})})
    return report.model_dump(mode="json")
