"""Wiring of one posture run, shared by the posture function and `dynamodb-dr status`."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ConfigDict, Field, field_validator

from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr.core.config import Settings, StackSettings, resolve_policies
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.posture.assess import PostureReport, PostureSources, assess_all
from dynamodb_dr.posture.cdc_sources import (
    ArchiverMappingsView,
    CdcArchiveView,
    MappingLagView,
    WriteActivityView,
)
from dynamodb_dr.posture.dead_letters import DeadLetterView
from dynamodb_dr.posture.freshness import CdcActivitySources
from dynamodb_dr.posture.rto_history import RtoHistoryStore
from dynamodb_dr.posture.sources import BackupView, ExportView, ReplicationView


class PostureConfig(DomainModel):
    """Where the optional recovery sources live (empty: not deployed, reported as unknown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    archive_bucket: str | None = None
    failure_queue_url: str | None = None
    archiver_function: str | None = None  # whose stream mappings and IteratorAge are read
    cdc_batching_window_seconds: int = Field(default=5, ge=0, le=300)
    export_chain: bool = True
    replication_metrics: bool = True


class PostureSettings(StackSettings):
    """The posture function's environment (empty values: that source is not deployed)."""

    archive_bucket: str | None = None
    cdc_failure_queue_url: str | None = Field(default=None, pattern=r"^https://")
    archiver_function: str | None = None
    cdc_batching_window_seconds: int = Field(default=5, ge=0, le=300)

    @field_validator("archive_bucket", "cdc_failure_queue_url", "archiver_function", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None

    def config(self) -> PostureConfig:
        return PostureConfig(
            archive_bucket=self.archive_bucket,
            failure_queue_url=self.cdc_failure_queue_url,
            archiver_function=self.archiver_function,
            cdc_batching_window_seconds=self.cdc_batching_window_seconds,
        )


def build_sources(settings: Settings, clients: AwsClients, config: PostureConfig) -> PostureSources:
    ddb = clients.client("dynamodb")
    queue = config.failure_queue_url
    dynamo = DynamoControl(ddb)
    activity = None
    if config.archiver_function:
        cloudwatch = clients.client("cloudwatch")
        activity = CdcActivitySources(
            mappings=ArchiverMappingsView(clients.client("lambda"), config.archiver_function),
            lags=MappingLagView(cloudwatch, config.archiver_function),
            writes=WriteActivityView(cloudwatch),
            batching_window=timedelta(seconds=config.cdc_batching_window_seconds),
        )
    return PostureSources(
        registry=TableRegistry(settings, clients.client("ssm")),
        dynamo=dynamo,
        backups=BackupView(dynamo, ddb, settings.state_table),
        exports=ExportView(ddb, settings.state_table) if config.export_chain else None,
        cdc=CdcArchiveView(clients.client("s3"), config.archive_bucket) if config.archive_bucket else None,
        dead_letters=DeadLetterView(clients.client("sqs"), queue) if queue else None,
        replication=ReplicationView(clients.client("cloudwatch")) if config.replication_metrics else None,
        rto=RtoHistoryStore(ddb, settings.state_table),
        cdc_activity=activity,
    )


def run_posture(settings: Settings, sources: PostureSources, now: datetime) -> PostureReport:
    """Assess every protected table. The policy document is read once; if it cannot be read the
    deploy-time defaults apply (and the run still reports every table)."""
    try:
        document = sources.registry.policy_document()
    except Exception:
        document = None
    return assess_all(settings, resolve_policies(settings, document), sources, now)
