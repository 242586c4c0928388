"""CloudFormation custom resource: tag the named tables on deploy, clean up run-time state on delete.

Always answers CloudFormation (a lost answer would hold the stack for an hour); a failure answers
FAILED with a one-line reason saying what to fix.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from dynamodb_dr.core import lifecycle
from dynamodb_dr.core.aws import warm_clients
from dynamodb_dr.core.config import Settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("action") == "tag-named-tables":
        return _scheduled_tagging()
    try:
        request = lifecycle.LifecycleRequest.model_validate(event)
    except ValidationError as exc:
        url = event.get("ResponseURL") if isinstance(event, dict) else None
        logger.error("invalid custom resource request", extra={"error": str(exc)[:500]})
        if isinstance(url, str) and all(isinstance(event.get(k), str) for k in ("StackId", "RequestId")):
            lifecycle.send_response(url, _raw_failure(event, f"invalid request: {exc.error_count()} errors"))
        return {"Status": "FAILED"}
    body = _handle(request)
    summary = {"request": request.RequestType, "status": body["Status"], "data": body["Data"]}
    logger.info("lifecycle", extra=summary)
    lifecycle.send_response(request.ResponseURL, body)
    return body


def _handle(request: lifecycle.LifecycleRequest) -> dict[str, Any]:
    props = request.ResourceProperties
    clients = warm_clients(os.environ)
    tags = lifecycle.TableTags(clients.client("dynamodb"), props.StackName)
    try:
        if request.RequestType == "Delete":
            report = lifecycle.on_delete(
                props.names, props, tags, clients.client("lambda"), clients.client("ssm")
            )
        else:
            old = request.OldResourceProperties.names if request.OldResourceProperties else ()
            report = lifecycle.on_deploy(props.names, old, tags, props.StackName)
    except Exception as exc:  # every failure answers CloudFormation with the reason
        logger.exception("lifecycle failed")
        return lifecycle.response_body(request, "FAILED", f"{type(exc).__name__}: {exc}")
    reason = "ok"
    if report.missing:
        reason = (
            f"tables not found, protected once they exist (or remove them from ProtectedTables): "
            f"{', '.join(report.missing)}"
        )
    return lifecycle.response_body(request, "SUCCESS", reason, report.data())


def _raw_failure(event: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "Status": "FAILED",
        "Reason": reason,
        "PhysicalResourceId": str(event.get("PhysicalResourceId") or "dynamodb-dr-lifecycle"),
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": str(event.get("LogicalResourceId", "")),
        "Data": {},
    }


def _scheduled_tagging() -> dict[str, Any]:
    """Scheduled: tag the named tables created since the deploy (the deploy tags those that exist)."""
    settings = Settings.from_env(os.environ)
    tags = lifecycle.TableTags(warm_clients(os.environ).client("dynamodb"), settings.stack)
    report = lifecycle.on_deploy(settings.protected_tables, (), tags, settings.stack)
    logger.info("named tables tagged", extra={"data": report.data()})
    return report.data()
