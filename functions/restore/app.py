"""Restore state machine steps (statemachines/restore.asl.json): dispatch on `action`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.registry import fleet_settings
from dynamodb_dr.restore import report, steps
from dynamodb_dr.restore.config import RestoreSettings
from dynamodb_dr.restore.env import StepEnv
from dynamodb_dr.restore.excerpts import bounded, excerpt

logger = Logger()
metrics = Metrics()

ACTIONS: dict[str, Callable[[dict[str, Any], StepEnv], dict[str, Any]]] = {
    "validate": steps.validate_request,
    "start_restore": steps.start_restore,
    "check_restore": steps.check_restore,
    "reapply_settings": steps.reapply_settings,
    "diff_settings": steps.diff_settings,
    "plan_validation": steps.plan_validation,
    "scan_segment": steps.scan_segment,
    "compare": steps.compare,
    "erase": steps.erase,
    "catch_up": steps.catch_up,
    "carry_over": steps.carry_over_writes,
    "request_approval": report.request_approval,
    "report": report.report,
    "fail": report.handle_failure,
}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action not in ACTIONS:
        raise InvalidInput(f"unknown restore action {excerpt(action)}; known: {sorted(ACTIONS)}")
    # The named tables and every table tagged for the stack (re-read at most once a minute).
    settings, clients = fleet_settings(RestoreSettings, os.environ, max_age_seconds=60)
    env = StepEnv(settings=settings, clients=clients, remaining_ms=context.get_remaining_time_in_millis)
    logger.append_keys(action=action)
    try:
        result = ACTIONS[action](event, env)
    except Exception as exc:  # errors quote bounded excerpts of the input (Step Functions' limits)
        raise bounded(exc) from None
    if action == "report" and result.get("mode") == "restore":
        metrics.add_metric(
            name="RestoreDurationSeconds", unit=MetricUnit.Seconds, value=result["rto_elapsed_seconds"]
        )
        metrics.add_metric(
            name="RestoreRpoSeconds", unit=MetricUnit.Seconds, value=result["rpo_achieved_seconds"]
        )
    if action == "report" and result.get("problems"):  # the RestoreAfterCutoverProblem alarm
        metrics.add_metric(name="RestoreAfterCutoverProblems", unit=MetricUnit.Count, value=1)
    if action == "check_restore" and result.get("rto_missed_now"):  # the RestoreRtoMissed alarm
        metrics.add_metric(name="RestoreRtoMissed", unit=MetricUnit.Count, value=1)
    if action == "fail":
        metrics.add_metric(name="RestoreFailures", unit=MetricUnit.Count, value=1)
    logger.info("restore step done", extra={"keys": sorted(result)})
    return result
