"""Approval requests, the final report, and the failure path (notify + clean-up policy)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr.core.aws import error_code
from dynamodb_dr.core.errors import DynamoDbDrError, TableNotProtected
from dynamodb_dr.restore.env import StepEnv, plan_of
from dynamodb_dr.restore.excerpts import excerpt
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.notify import notify
from dynamodb_dr.restore.ownership import claim_untagged
from dynamodb_dr.restore.tables import TAG_STATUS


def request_approval(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    token = str(event["task_token"])
    message = "\n".join(
        [
            f"dynamodb-dr restore {plan.execution} is validated and waits for approval to cut over.",
            f"Restore point: {plan.restore_time.isoformat() if plan.restore_time else '-'}",
            "",
            *approval_summary(plan, event),
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


def approval_summary(plan: Plan, state: dict[str, Any]) -> list[str]:
    """What was validated, table by table: what the approver decides on."""
    figures = {t["logical"]: t for t in (state.get("validation") or {}).get("tables", []) if "logical" in t}
    settings = {t["logical"]: t for t in (state.get("settings") or {}).get("tables", []) if "logical" in t}
    accepted = (state.get("settings_diff") or {}).get("accepted_differences", {})
    lines = []
    for t in plan.tables:
        f, s = figures.get(t.logical, {}), settings.get(t.logical, {})
        archive = f.get("archive") or {}
        lines += [
            f"{t.logical}: live {t.source} -> restored {t.target}",
            f"  items: restored {f.get('item_count', '?')}, source reports {f.get('source_item_count', '?')} "
            "(DynamoDB's ItemCount, refreshed about every 6 hours)",
            f"  checksum: {f.get('checksum', '?')} over {f.get('segments', '?')} segments"
            + (" (matches the expected checksum)" if f.get("expectation") == "input" else ""),
            f"  CDC archive sample: {archive.get('status', 'off')}, {archive.get('checked', 0)} keys "
            f"checked, {archive.get('mismatches', 0)} differ",
            f"  settings re-applied: {', '.join(s.get('applied', [])) or 'none needed'}",
            "  settings NOT re-applied: "
            + (", ".join(x["setting"] for x in s.get("not_reapplied", [])) or "none"),
            f"  differences accepted by the request: {', '.join(accepted.get(t.logical, [])) or 'none'}",
        ]
        lines += [f"  WARNING: {w}" for w in f.get("warnings", [])]
    return lines


def build_report(state: dict[str, Any], now: datetime) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    elapsed = (now - plan.started_at).total_seconds()
    cutover = state.get("cutover") or {}
    if plan.mode == "rollback":
        return {
            "execution": plan.execution,
            "mode": "rollback",
            "outcome": "rolled back",
            "rollback_of": plan.rollback_of,
            "rollback": cutover,
            "elapsed_seconds": round(elapsed, 3),
        }
    assert plan.restore_time
    settings = {t["logical"]: t for t in (state.get("settings") or {}).get("tables", [])}
    figures = {t["logical"]: t for t in (state.get("validation") or {}).get("tables", [])}
    catch_up = state.get("catch_up") or {"status": "off"}
    switched = cutover.get("status") in {"switched", "already-switched"}
    problems = _after_cutover_problems(state) if switched else []
    outcome = "cut over" if switched else "restored and validated, not cut over"
    return {
        "execution": plan.execution,
        "mode": "restore",
        "outcome": "; ".join([outcome, *problems]),
        "problems": problems,
        "fence": state.get("fence"),
        "carried_over": state.get("carried_over"),
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


def _after_cutover_problems(state: dict[str, Any]) -> list[str]:
    """What went wrong after the pointers moved (each step's Catch left its error in the state)."""
    problems = []
    for key, what in (("fence", "old tables not fenced"), ("carried_over", "late writes not carried over")):
        error = (state.get(key) or {}).get("Error")
        if error:
            problems.append(f"{what} ({excerpt(str(error), 80)})")
    if ((state.get("carried_over") or {}).get("detail") or {}).get("fenced") is False:
        problems.append("late writes carried over up to the report, not to a fence")
    return problems


def report(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """The final report. Failing to send it does not undo or fail what happened (a cutover is
    done): the report says so and the handler counts it (RestoreNotificationFailures)."""
    result = build_report(event["state"], datetime.now(UTC))
    verb = "rolled back" if result["mode"] == "rollback" else "restored"
    try:
        result["notified"] = notify(env, f"dynamodb-dr: {result['execution']} {verb}", result)
    except DynamoDbDrError as exc:
        result["notified"] = False
        result["notify_error"] = f"{exc.code}: {excerpt(str(exc), 300)}"
        if result["mode"] == "rollback" or result["outcome"].startswith("cut over"):
            result["outcome"] += "; reporting failed"
            result["problems"] = [*result.get("problems", []), "reporting failed"]
        else:
            raise  # nothing moved: a failed run's notice is sent by the failure path
    return result


def handle_failure(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """Notify and apply the clean-up policy. Never touches source tables or live pointers.

    Policy: only tables this execution created (its tags name it) that no pointer uses are
    handled; `on_failure: keep` (default) tags them FAILED for inspection, `delete` deletes them.
    The notice states every pointer's real value, so it is true even after a failed cutover.
    """
    state = event.get("state") or {}
    error = state.get("error") or {}
    cleanup: list[dict[str, str]] = []
    pointers: list[dict[str, Any]] = []
    plan = Plan.model_validate(state["plan"]) if isinstance(state.get("plan"), dict) else None
    if plan and plan.mode == "restore":
        pointers = [_pointer_state(env, t.logical, t.target) for t in plan.tables]
        # A restore stopped by the hard limit may still finish: keep it, whatever on_failure says.
        keep = (
            plan
            if error.get("Error") != "RestoreTimedOut"
            else plan.model_copy(update={"on_failure": "keep"})
        )
        cleanup = [_clean(env, keep, t.logical, t.target) for t in plan.tables]
    still = [p["logical"] for p in pointers if p.get("points_at_restored_table")]
    message = {
        "execution": plan.execution if plan else None,
        "error": excerpt(error.get("Error"), 200) if error.get("Error") else None,
        "cause": _cause(error.get("Cause")),
        "pointers": (
            f"SWITCHED to the restored table for {still}: run a rollback of this execution"
            if still
            else "unchanged by this execution"
        ),
        "pointer_states": pointers,
        "cutover": state.get("cutover"),
        "cleanup_policy": plan.on_failure if plan else None,
        "cleanup": cleanup,
    }
    if plan and plan.mode == "restore":
        message["resume"] = (
            "once the restored tables are ACTIVE, finish this restore without restoring again: "
            f'start the restore state machine with {{"resume": {{"execution": "{plan.execution}"}}}} '
            f"(CLI: dynamodb-dr restore --resume {plan.execution})"
        )
    subject = f"dynamodb-dr restore FAILED: {excerpt(str(error.get('Error', 'unknown')), 40)}"
    notified = notify(env, subject, message)
    return {"cleanup": cleanup, "notified": notified, "pointers": message["pointers"]}


def _pointer_state(env: StepEnv, logical: str, target: str) -> dict[str, Any]:
    try:
        live = env.registry.resolve(logical).live_table
    except DynamoDbDrError as exc:
        return {"logical": logical, "live_table": None, "error": exc.code}
    return {"logical": logical, "live_table": live, "points_at_restored_table": live == target}


def _clean(env: StepEnv, plan: Plan, logical: str, target: str) -> dict[str, str]:
    tables = env.tables
    try:
        if not tables.exists(target):
            return {"table": target, "action": "none", "reason": "not created"}
        if not tables.created_by(target, plan.table_owner) and not claim_untagged(
            tables, env.reservations, plan, target
        ):
            return {"table": target, "action": "none", "reason": "not created by this execution"}
        try:
            live = env.registry.resolve(logical).live_table
        except TableNotProtected:
            live = None
        if live == target:
            return {"table": target, "action": "none", "reason": "it is the live table"}
        status, _ = tables.status(target)
        if plan.on_failure == "delete" and status != "CREATING":
            disposed = env.disposal.dispose(target)  # with the alarms and targets copied for it
            return {
                "table": target,
                "action": "deleted",
                "reason": (
                    f"with {len(disposed.alarms)} alarm copies and "
                    f"{len(disposed.scalable_targets)} scalable targets made for it"
                ),
            }
        tables.tag(target, {TAG_STATUS: "FAILED"})
        reason = "tagged restore-status=FAILED"
        if plan.on_failure == "delete":
            reason += " (still CREATING: DynamoDB cannot delete it yet)"
        return {"table": target, "action": "kept", "reason": reason}
    except Exception as exc:  # clean-up is best effort: report, never mask the original failure
        return {"table": target, "action": "error", "reason": error_code(exc.__cause__ or exc)}


def _cause(cause: Any) -> Any:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return excerpt(cause, 2000)
        if isinstance(parsed, dict):
            picked = {k: parsed.get(k) for k in ("errorType", "errorMessage") if k in parsed}
            return {k: excerpt(v, 2000) for k, v in (picked or parsed).items()}
    return excerpt(cause, 2000) if cause is not None else None
