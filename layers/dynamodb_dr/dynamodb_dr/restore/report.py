"""Approval requests, the final report, and the failure path (notify + clean-up policy)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import TableNotProtected
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.steps import StepEnv, plan_of
from dynamodb_dr.restore.tables import TAG_STATUS

SUBJECT_LIMIT = 100


def notify(env: StepEnv, subject: str, message: dict[str, Any] | str) -> bool:
    if not env.topic_arn:
        return False
    body = message if isinstance(message, str) else json.dumps(message, indent=2, default=str)
    with aws_errors():
        env.clients.client("sns").publish(
            TopicArn=env.topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=body
        )
    return True


def request_approval(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    token = str(event["task_token"])
    tables = ", ".join(f"{t.logical}: {t.source} -> {t.target}" for t in plan.tables)
    message = "\n".join(
        [
            f"dynamodb-dr restore {plan.execution} is validated and waits for approval to cut over.",
            f"Restore point: {plan.restore_time.isoformat() if plan.restore_time else '-'}",
            f"Live tables to switch: {tables}",
            f"Validation: {json.dumps(event.get('validation'), default=str)}",
            "",
            "Approve (CLI, or AWS CloudShell from the console):",
            f"  aws stepfunctions send-task-success --task-token '{token}' "
            "--task-output '{\"approved\": true}'",
            "Reject (nothing is switched; the restored tables are kept or deleted per on_failure):",
            f"  aws stepfunctions send-task-failure --task-token '{token}' --error ApprovalRejected "
            "--cause 'why'",
        ]
    )
    notified = notify(env, f"dynamodb-dr: approve cutover of restore {plan.execution}", message)
    return {"requested": True, "notified": notified}


def build_report(state: dict[str, Any], now: datetime) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    elapsed = (now - plan.started_at).total_seconds()
    cutover = state.get("cutover") or {}
    if plan.mode == "rollback":
        return {
            "execution": plan.execution,
            "mode": "rollback",
            "rollback_of": plan.rollback_of,
            "rollback": cutover,
            "elapsed_seconds": round(elapsed, 3),
        }
    assert plan.restore_time
    settings = {t["logical"]: t for t in (state.get("settings") or {}).get("tables", [])}
    figures = {t["logical"]: t for t in (state.get("validation") or {}).get("tables", [])}
    catch_up = state.get("catch_up") or {"status": "off"}
    return {
        "execution": plan.execution,
        "mode": "restore",
        "restore_point": plan.restore_time.isoformat(),
        # Changes after the restore point are not in the restored tables (unless caught up).
        "rpo_achieved_seconds": round((plan.started_at - plan.restore_time).total_seconds(), 3),
        "rto_elapsed_seconds": round(elapsed, 3),
        "rto_budget_minutes": plan.rto_minutes,
        "cutover_mode": plan.cutover,
        "cutover": cutover or {"status": "not-switched"},
        "catch_up": catch_up,
        "tables": [
            {
                "logical": t.logical,
                "source": t.source,
                "restored": t.target,
                "item_count": figures.get(t.logical, {}).get("item_count"),
                "checksum": figures.get(t.logical, {}).get("checksum"),
                "settings_reapplied": settings.get(t.logical, {}).get("applied", []),
                "settings_not_reapplied": settings.get(t.logical, {}).get("not_reapplied", []),
            }
            for t in plan.tables
        ],
        "accepted_setting_differences": (state.get("settings_diff") or {}).get("accepted_differences", {}),
    }


def report(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    result = build_report(event["state"], datetime.now(UTC))
    verb = "rolled back" if result["mode"] == "rollback" else "restored"
    result["notified"] = notify(env, f"dynamodb-dr: {result['execution']} {verb}", result)
    return result


def handle_failure(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """Notify and apply the clean-up policy. Never touches source tables or live pointers.

    Policy: only tables this execution created (tagged with its name) that no pointer uses are
    handled; `on_failure: keep` (default) tags them FAILED for inspection, `delete` deletes them.
    """
    state = event.get("state") or {}
    error = state.get("error") or {}
    cleanup: list[dict[str, str]] = []
    plan = Plan.model_validate(state["plan"]) if isinstance(state.get("plan"), dict) else None
    if plan and plan.mode == "restore":
        cleanup = [_clean(env, plan, t.logical, t.target) for t in plan.tables]
    message = {
        "execution": plan.execution if plan else None,
        "error": error.get("Error"),
        "cause": _cause(error.get("Cause")),
        "sources_and_pointers": "unchanged by this execution unless cutover says otherwise",
        "cutover": state.get("cutover"),
        "cleanup_policy": plan.on_failure if plan else None,
        "cleanup": cleanup,
    }
    notified = notify(env, f"dynamodb-dr restore FAILED: {error.get('Error', 'unknown')}", message)
    return {"cleanup": cleanup, "notified": notified}


def _clean(env: StepEnv, plan: Plan, logical: str, target: str) -> dict[str, str]:
    tables = env.tables
    try:
        if not tables.exists(target):
            return {"table": target, "action": "none", "reason": "not created"}
        planned = next(t for t in plan.tables if t.target == target)
        assert plan.restore_time
        if not tables.created_by(target, plan.execution, planned.source_arn, plan.restore_time):
            return {"table": target, "action": "none", "reason": "not created by this execution"}
        try:
            live = env.registry.resolve(logical).live_table
        except TableNotProtected:
            live = None
        if live == target:
            return {"table": target, "action": "none", "reason": "it is the live table"}
        if plan.on_failure == "delete":
            tables.delete(target)
            return {"table": target, "action": "deleted"}
        tables.tag(target, {TAG_STATUS: "FAILED"})
        return {"table": target, "action": "kept", "reason": "tagged restore-status=FAILED"}
    except Exception as exc:  # clean-up is best effort: report, never mask the original failure
        return {"table": target, "action": "error", "reason": error_code(exc.__cause__ or exc)}


def _cause(cause: Any) -> Any:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause[:2000]
        if isinstance(parsed, dict):
            return {k: parsed.get(k) for k in ("errorType", "errorMessage") if k in parsed} or parsed
    return cause
