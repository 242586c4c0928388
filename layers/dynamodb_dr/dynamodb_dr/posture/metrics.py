"""CloudWatch metrics (EMF) of a posture report.

Per table (dimensions Table + service) for the dashboard, and stack-wide aggregates (service
only) for the alarms: CloudFormation cannot loop over ProtectedTables, so each alarm watches one
aggregate ("tables breaching", "worst value over all tables") and the per-table series show which.
Values that are unknown are not emitted; the aggregates count unknown as breaching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from dynamodb_dr.core.observability import TABLE_DIMENSION
from dynamodb_dr.posture.assess import PostureReport, TablePosture

Seconds, Count = MetricUnit.Seconds, MetricUnit.Count


@dataclass
class MetricDoc:
    """One EMF document: values sharing one set of dimensions."""

    dimensions: dict[str, str]
    values: dict[str, tuple[float, MetricUnit]] = field(default_factory=dict)

    def put(self, name: str, value: float | None, unit: MetricUnit = Count) -> None:
        if value is not None:
            self.values[name] = (float(value), unit)


def table_docs(posture: TablePosture) -> list[MetricDoc]:
    doc = MetricDoc({TABLE_DIMENSION: posture.logical_name})
    docs = [doc]
    doc.put("PostureCheckFailures", posture.failed_checks)
    doc.put("RpoMet", 1 if posture.rpo_met is True else 0)
    doc.put("RtoMet", 1 if posture.rto_met is True else 0)
    if posture.status == "failed":
        return docs
    doc.put("WorstCaseRpoSeconds", posture.worst_case_rpo_seconds, Seconds)
    if posture.pitr is not None:
        doc.put("PitrEnabled", 1 if posture.pitr.enabled else 0)
        doc.put("PitrLagSeconds", posture.pitr.lag_seconds, Seconds)
    if posture.backups is not None:
        doc.put("BackupAgeSeconds", posture.backups.age_seconds, Seconds)
    if posture.exports is not None:
        doc.put("ExportChainGapsRecorded", posture.exports.gaps)
        doc.put("ExportFailuresSinceSuccess", posture.exports.failures_since_success)
        for kind, age in sorted(posture.exports.age_seconds.items()):
            typed = MetricDoc({TABLE_DIMENSION: posture.logical_name, "ExportType": kind})
            typed.put("ExportAgeSeconds", age, Seconds)
            docs.append(typed)
    doc.put("CdcArchiveAtRisk", 0 if cdc_fresh(posture) else 1)
    if posture.cdc is not None:
        doc.put("CdcArchiveLagSeconds", posture.cdc.lag_seconds, Seconds)
        doc.put("CdcFailures", posture.cdc.dead_letters)
        doc.put("CdcReachAgeSeconds", posture.cdc.reach_age_seconds, Seconds)
        doc.put("CdcMappingLagSeconds", posture.cdc.mapping_lag_seconds, Seconds)
    if posture.replicas is not None:
        doc.put("ReplicaCount", len(posture.replicas))
        latencies = [r.latency_ms for r in posture.replicas if r.latency_ms is not None]
        doc.put("ReplicationLatency", max(latencies) if latencies else None, MetricUnit.Milliseconds)
    if posture.rto is not None:
        doc.put("MeasuredRtoSeconds", posture.rto.latest_seconds, Seconds)
        doc.put("RehearsalFailures", 1 if posture.rto.latest_failed else 0)
    return docs


def cdc_fresh(posture: TablePosture) -> bool:
    """The CDC archive is known to keep up (or the table is quiet); unknown counts as not."""
    cdc_checks = {k for k in posture.unknown if k.startswith("cdc")}
    return (
        posture.status != "failed" and posture.cdc is not None and not posture.cdc.at_risk and not cdc_checks
    )


def aggregate_doc(report: PostureReport) -> MetricDoc:
    """Stack-wide values the alarms watch (unknown counts as breaching)."""
    tables = report.tables
    doc = MetricDoc({})
    doc.put("TablesChecked", len(tables))
    doc.put("PostureCheckFailures", sum(t.failed_checks for t in tables))
    doc.put("TablesRpoNotMet", sum(t.rpo_met is not True for t in tables))
    doc.put("TablesRtoNotMet", sum(t.rto_met is not True for t in tables))
    doc.put("TablesPitrDisabled", sum(t.pitr is None or not t.pitr.enabled for t in tables))
    doc.put("TablesExportFailing", sum(bool(t.exports and t.exports.failures_since_success) for t in tables))
    doc.put("RehearsalFailures", sum(bool(t.rto and t.rto.latest_failed) for t in tables))
    doc.put("ReplicasNotActive", sum(r.status != "ACTIVE" for t in tables for r in t.replicas or []))
    doc.put("TablesCdcAtRisk", sum(not cdc_fresh(t) for t in tables))
    rpos = [t.worst_case_rpo_seconds for t in tables]
    # A table with no recoverable point (or unreadable) has an unbounded RPO: leave the value
    # out, so the RPO alarm sees missing data (breaching) rather than a reassuring number.
    if rpos and all(r is not None for r in rpos):
        doc.put("WorstCaseRpoSeconds", max(r for r in rpos if r is not None), Seconds)
    rtos = [t.rto.latest_seconds if t.rto else None for t in tables]
    if rtos and all(r is not None for r in rtos):
        doc.put("MeasuredRtoSeconds", max(r for r in rtos if r is not None), Seconds)
    doc.put("CdcFailures", report.cdc_dead_letters)
    return doc


def emit(report: PostureReport, namespace: str, service: str) -> list[MetricDoc]:
    """Publish every document as EMF on stdout; returns what was published."""
    docs = [d for t in report.tables for d in table_docs(t)] + [aggregate_doc(report)]
    for doc in docs:
        if not doc.values:
            continue
        metrics = EphemeralMetrics(namespace=namespace, service=service)
        for name, value in doc.dimensions.items():
            metrics.add_dimension(name=name, value=value)
        for metric, (number, unit) in doc.values.items():
            metrics.add_metric(name=metric, unit=unit, value=number)
        metrics.flush_metrics()
    return docs
