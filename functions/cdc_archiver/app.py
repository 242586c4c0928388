"""CDC archiver: one gzip JSON-lines object per delivered stream batch (per table and hour).

Partial batch responses (the equivalent of Powertools' BatchProcessor for streams, at object
rather than record granularity): everything before the first record that could not be archived
is durable in S3; that record is reported in `batchItemFailures`, so Lambda checkpoints before it
and the retry resumes there. Object keys are deterministic, so a retried batch overwrites.
Hand-written rather than Powertools' BatchProcessor: that reports single records, while the
archive's unit of durability is an object of many records.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.cdc.archive import ArchiveResult, ArchiverSettings, ArchiveStore, LogicalNames, archive_batch
from dynamodb_dr.cdc.model import sequence_of
from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.core.registry import TableRegistry, with_fleet

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidInput("event is not a DynamoDB stream batch (no Records list)")
    settings = ArchiverSettings.from_env()
    clients = warm_clients(os.environ)
    settings = with_fleet(settings, clients, max_age_seconds=300)  # once per 5 min per container
    registry = TableRegistry(settings, clients.client("ssm"))
    names = LogicalNames(
        settings.protected_tables, lambda: {t.live_table: t.logical_name for t in registry.resolve_all()}
    )
    store = ArchiveStore(clients.client("s3"), settings.archive_bucket)
    result = archive_batch(records, store, names, max_records=settings.cdc_max_records_per_object)
    _publish(result, settings)
    if result.ok:
        logger.info("batch archived", extra=_summary(result))
        return {"batchItemFailures": []}
    assert result.failed_index is not None
    failed_seq = sequence_of(records[result.failed_index]) or ""  # "" fails the whole batch
    logger.error("batch partly archived", extra={**_summary(result), "failed_sequence_number": failed_seq})
    return {"batchItemFailures": [{"itemIdentifier": failed_seq}]}


def _summary(result: ArchiveResult) -> dict[str, Any]:
    # Counts, sizes and positions only: item attribute values are never logged.
    return {
        "records": result.records,
        "archived": result.archived,
        "objects": result.objects,
        "bytes": result.bytes,
        "failed_index": result.failed_index,
        "failure": result.failure,
    }


def _publish(result: ArchiveResult, settings: Settings) -> None:
    service = metrics.service or "cdc-archiver"
    namespace = settings.metrics_namespace
    for table, count in result.tables.items():
        emit_table_metrics(namespace, service, table, {"CdcRecordsArchived": count})
    metrics.add_metric(name="CdcRecordsArchived", unit=MetricUnit.Count, value=result.archived)
    metrics.add_metric(name="CdcBytesArchived", unit=MetricUnit.Bytes, value=result.bytes)
    metrics.add_metric(name="CdcObjectsWritten", unit=MetricUnit.Count, value=result.objects)
    metrics.add_metric(name="CdcRecordsFailed", unit=MetricUnit.Count, value=result.records - result.archived)
    if result.newest_change:
        lag = (datetime.now(UTC) - result.newest_change).total_seconds()
        metrics.add_metric(name="CdcArchiveLagSeconds", unit=MetricUnit.Seconds, value=max(0.0, lag))
