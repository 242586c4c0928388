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

from dynamodb_dr.cdc.follow import FollowerSettings, StreamFollower
from dynamodb_dr.cdc.timeline import TimelineRecorder
from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.errors import StreamFollowFailed
from dynamodb_dr.core.registry import TableRegistry, with_fleet

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = FollowerSettings.from_env()
    clients = warm_clients(os.environ)
    settings = with_fleet(settings, clients)  # names + tables tagged for the stack
    follower = StreamFollower(
        settings.protected_tables,
        TableRegistry(settings, clients.client("ssm")),
        clients.client("dynamodb"),
        clients.client("lambda"),
        settings,
        timeline=TimelineRecorder(clients.client("ssm"), clients.client("s3"), settings.archive_bucket),
    )
    report = follower.sync()
    created = sum(1 for t in report.tables if t.action.endswith("created"))
    metrics.add_metric(name="CdcMappingsCreated", unit=MetricUnit.Count, value=created)
    metrics.add_metric(name="CdcMappingsDeleted", unit=MetricUnit.Count, value=len(report.deleted))
    metrics.add_metric(name="CdcFollowFailures", unit=MetricUnit.Count, value=len(report.failed))
    body = {
        "tables": [asdict(t) for t in report.tables],
        "deleted": report.deleted,
        "draining": report.draining,
    }
    logger.info("streams followed", extra=body)
    if report.failed:
        raise StreamFollowFailed(f"could not follow the streams of {report.failed}")
    return body
