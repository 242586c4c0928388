"""The only writer of live-table pointers: restore cutover and rollback (all or none)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.registry import TableRegistry, with_fleet
from dynamodb_dr.restore.config import PointerSettings
from dynamodb_dr.restore.cutover import CutoverLedger, Pointers, cutover, publish_pointers, rollback
from dynamodb_dr.restore.steps import plan_of
from dynamodb_dr.restore.tables import RestoreTables

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action not in {"cutover", "rollback", "publish"}:
        raise InvalidInput(f"unknown pointer action {action!r}")
    settings = PointerSettings.from_env()
    clients = warm_clients(os.environ)
    settings = with_fleet(settings, clients)  # names + tables tagged for the stack
    if action == "publish":  # scheduled: every protected table gets a pointer to read
        created = publish_pointers(settings, Pointers(clients.client("ssm")))
        logger.info("pointers published", extra={"pointers_created": created})
        return {"status": "published", "created": created}
    plan = plan_of(event)
    registry = TableRegistry(settings, clients.client("ssm"))
    ledger = CutoverLedger(clients.client("dynamodb"), settings.state_table)
    pointers = Pointers(clients.client("ssm"))
    if action == "cutover":
        result = cutover(plan, registry, RestoreTables(clients.client("dynamodb")), ledger, pointers)
    else:
        result = rollback(plan, registry, ledger, pointers)
    metrics.add_metric(name="PointersSwitched", unit=MetricUnit.Count, value=len(result["pointers"]))
    logger.info("pointers", extra={"status": result["status"], "pointers": result["pointers"]})
    return result
