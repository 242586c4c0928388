"""The only writer of live-table pointers and of old tables' fences: restore cutover, fence,
rollback (pointer by pointer), and the scheduled publish (pointers from their records, and the
data key's state)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr.core.errors import InvalidInput, TableNotFound
from dynamodb_dr.core.registry import TableRegistry, fleet_settings
from dynamodb_dr.restore.config import PointerSettings
from dynamodb_dr.restore.cutover import CutoverLedger, cutover, rollback
from dynamodb_dr.restore.excerpts import bounded, excerpt
from dynamodb_dr.restore.fence import Fences
from dynamodb_dr.restore.models import plan_of
from dynamodb_dr.restore.pointers import PointerRecords, Pointers, key_usable, publish_pointers
from dynamodb_dr.restore.tables import RestoreTables

logger = Logger()
metrics = Metrics()
ACTIONS = {"cutover", "fence", "rollback", "publish"}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action not in ACTIONS:
        raise InvalidInput(f"unknown pointer action {excerpt(action)}")
    settings, clients = fleet_settings(PointerSettings, os.environ)  # names + tables tagged for the stack
    try:
        if action == "publish":  # scheduled
            return _publish(settings, clients)
        return _switch(str(action), event, settings, clients)
    except Exception as exc:  # errors quote bounded excerpts (Step Functions' limits)
        raise bounded(exc) from None


def _switch(
    action: str, event: dict[str, Any], settings: PointerSettings, clients: AwsClients
) -> dict[str, Any]:
    plan = plan_of(event)
    ddb = clients.client("dynamodb")
    registry = TableRegistry(settings, clients.client("ssm"))
    ledger = CutoverLedger(ddb, settings.state_table)
    pointers, records = Pointers(clients.client("ssm")), PointerRecords(ddb, settings.state_table)
    fences = Fences(ddb, settings.tool_role_arns)
    if action == "cutover":
        result = cutover(plan, registry, RestoreTables(ddb), ledger, pointers, records=records)
    elif action == "fence":
        result = _fence(plan.execution, ledger, fences)
    else:
        result = rollback(plan, registry, ledger, pointers, records=records)
        result["fences"] = {c["previous"]: _quietly(fences.lift, c["previous"]) for c in result["pointers"]}
    metrics.add_metric(name="PointersSwitched", unit=MetricUnit.Count, value=len(result["pointers"]))
    logger.info("pointers", extra={"status": result["status"], "pointers": result["pointers"]})
    return result


def _fence(execution: str, ledger: CutoverLedger, fences: Fences) -> dict[str, Any]:
    """Deny application writes to every table this execution's cutover switched away from."""
    recorded = ledger.get(execution)
    if recorded is None or recorded.status != "SWITCHED":
        raise InvalidInput(f"execution {execution} has no completed cutover to fence after")
    old = sorted({c.previous for c in recorded.changes if c.previous != c.new})
    tables = {table: _quietly(fences.fence, table) for table in old}
    return {
        "status": "fenced",
        "fenced_at": datetime.now(UTC).isoformat(),
        "tables": tables,
        "pointers": [],
    }


def _quietly(step: Any, table: str) -> str:
    """A table that no longer exists needs no fence (e.g. the incident deleted it)."""
    try:
        return str(step(table))
    except TableNotFound:
        return "gone"


def _publish(settings: PointerSettings, clients: AwsClients) -> dict[str, Any]:
    ddb = clients.client("dynamodb")
    report = publish_pointers(
        settings, Pointers(clients.client("ssm")), PointerRecords(ddb, settings.state_table)
    )
    metrics.add_metric(name="PointersRestored", unit=MetricUnit.Count, value=len(report.restored))
    metrics.add_metric(name="PointerMismatches", unit=MetricUnit.Count, value=len(report.mismatched))
    usable = key_usable(clients.client("kms"), settings.data_key_arn) if settings.data_key_arn else None
    if usable is not None:
        metrics.add_metric(name="DataKeyUsable", unit=MetricUnit.Count, value=1 if usable else 0)
    log = logger.warning if report.restored or report.mismatched or usable is False else logger.info
    log("pointers published", extra={"report": report.__dict__, "data_key_usable": usable})
    return {
        "status": "published",
        "created": report.created,
        "restored": report.restored,
        "mismatched": report.mismatched,
        "data_key_usable": usable,
    }
