"""Stream follower: keep the CDC archiver's event source mappings on each protected live table.

Runs on a schedule and whenever a live-table pointer in SSM changes (restore cutover).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.cdc.coverage import CoverageStore
from dynamodb_dr.cdc.follow import FollowerSettings, StreamFollower
from dynamodb_dr.cdc.timeline import TimelineRecorder
from dynamodb_dr.core.errors import StreamFollowFailed
from dynamodb_dr.core.registry import TableRegistry, fleet_settings

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, clients = fleet_settings(FollowerSettings, os.environ)  # names + tables tagged for the stack
    s3 = clients.client("s3")
    follower = StreamFollower(
        settings.protected_tables,
        TableRegistry(settings, clients.client("ssm")),
        clients.client("dynamodb"),
        clients.client("lambda"),
        settings,
        timeline=TimelineRecorder(clients.client("ssm"), s3, settings.archive_bucket),
        coverage=CoverageStore(s3, settings.archive_bucket),
    )
    try:
        report = follower.sync()
    except Exception:
        # Could not even list the mappings: every table counts as not followed (the alarm's input).
        metrics.add_metric(
            name="CdcFollowFailures", unit=MetricUnit.Count, value=len(settings.protected_tables)
        )
        raise
    created = sum(1 for t in report.tables if t.action.endswith("created"))
    count = MetricUnit.Count
    metrics.add_metric(name="CdcMappingsCreated", unit=count, value=created)
    metrics.add_metric(name="CdcMappingsRepaired", unit=count, value=report.repaired)
    metrics.add_metric(name="CdcMappingsDeleted", unit=count, value=len(report.deleted))
    metrics.add_metric(name="CdcFollowFailures", unit=count, value=len(report.failed))
    metrics.add_metric(name="CdcStreamGaps", unit=count, value=len(report.stream_gaps))
    metrics.add_metric(name="CdcMappingProblems", unit=count, value=len(report.problems))
    body = {
        "tables": [asdict(t) for t in report.tables],
        "deleted": report.deleted,
        "draining": report.draining,
    }
    logger.info("streams followed", extra=body)
    if report.stream_gaps:
        logger.error(
            "stream was off: changes made meanwhile are in no stream", extra={"tables": report.stream_gaps}
        )
    if report.failed:
        raise StreamFollowFailed(f"could not follow the streams of {report.failed}")
    return body
