"""Per-table CloudWatch metrics (EMF) shared by the handlers."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

TABLE_DIMENSION = "Table"


def emit_table_metrics(
    namespace: str, service: str, table: str, values: Mapping[str, float], unit: MetricUnit = MetricUnit.Count
) -> None:
    """Publish one EMF document holding `values` with the table as dimension."""
    if not values:
        return
    # One EMF document per table on purpose: a Metrics flush carries one dimension set.
    metrics = EphemeralMetrics(namespace=namespace, service=service)
    metrics.add_dimension(name=TABLE_DIMENSION, value=table)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()
