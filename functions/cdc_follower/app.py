"""Stream follower: keep the CDC archiver's event source mappings on each protected live table.

Runs on a schedule and whenever a live-table pointer in SSM changes (restore cutover).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.cdc.follow import MappingSettings, StreamFollower
from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import ConfigurationError, StreamFollowFailed
from dynamodb_dr.core.registry import TableRegistry, with_fleet

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    mapping = _mapping_settings(os.environ)
    clients = warm_clients(os.environ)
    settings = with_fleet(settings, clients)  # names + tables tagged for the stack
    follower = StreamFollower(
        settings.protected_tables,
        TableRegistry(settings, clients.client("ssm")),
        clients.client("dynamodb"),
        clients.client("lambda"),
        mapping,
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


def _mapping_settings(environ: Any) -> MappingSettings:
    try:
        return MappingSettings(
            function_name=environ["ARCHIVER_FUNCTION"],
            on_failure_arn=environ["ON_FAILURE_ARN"],
            batch_size=int(environ.get("CDC_BATCH_SIZE", "1000")),
            batching_window_seconds=int(environ.get("CDC_BATCHING_WINDOW_SECONDS", "5")),
            max_retry_attempts=int(environ.get("CDC_MAX_RETRY_ATTEMPTS", "10")),
            max_record_age_seconds=int(environ.get("CDC_MAX_RECORD_AGE_SECONDS", "86400")),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"invalid stream follower settings: {exc}") from exc
