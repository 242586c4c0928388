"""Repair state machine steps (statemachines/repair.asl.json): dispatch on `action`."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.observability import emit_table_metrics
from dynamodb_dr.repair.models import RepairSettings
from dynamodb_dr.repair.steps import ACTIONS, StepEnv

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action not in ACTIONS:
        raise InvalidInput(f"unknown repair action {action!r}; known: {sorted(ACTIONS)}")
    settings = RepairSettings.from_env()
    env = StepEnv(
        settings=settings,
        clients=warm_clients(os.environ),
        remaining_ms=context.get_remaining_time_in_millis,
    )
    logger.append_keys(action=action)
    result = ACTIONS[action](event, env)
    if action == "report" and result.get("applied"):
        applied = result["applied"]
        emit_table_metrics(
            settings.metrics_namespace,
            "repair",
            str(result.get("table")),
            {
                "RepairKeysWritten": applied["written"],
                "RepairConflicts": (result.get("conflicts") or {}).get("count", 0)
                + applied["changed_since_plan"],
                "RepairThrottles": applied["throttled"],
            },
        )
        emit_table_metrics(
            settings.metrics_namespace,
            "repair",
            str(result.get("table")),
            {"RepairDurationSeconds": result["duration_seconds"]},
            MetricUnit.Seconds,
        )
    if action == "fail":
        metrics.add_metric(name="RepairFailures", unit=MetricUnit.Count, value=1)
    # Only the result's field names: never keys or item values.
    logger.info("repair step done", extra={"keys": sorted(result)})
    return result
