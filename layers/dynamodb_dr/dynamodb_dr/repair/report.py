"""The repair's report and notifications: counts, conflicts, duration, the data-loss window and
how to undo it. Attribute values never appear; keys (a sample) only in the report object in the
bucket and the SNS message, never in the state machine's history or the logs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

SUBJECT_LIMIT = 100
SECOND = timedelta(seconds=1)


def applied_totals(lanes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The lanes' checkpoints summed: what the repair wrote, and when."""
    firsts = [str(lane["first_write"]) for lane in lanes if lane.get("first_write")]
    lasts = [str(lane["last_write"]) for lane in lanes if lane.get("last_write")]
    return {
        "written": sum(int(lane.get("written", 0)) for lane in lanes),
        "already_repaired": sum(int(lane.get("already", 0)) for lane in lanes),
        "changed_since_plan": sum(int(lane.get("changed", 0)) for lane in lanes),
        "throttled": sum(int(lane.get("throttled", 0)) for lane in lanes),
        "retries": sum(int(lane.get("retries", 0)) for lane in lanes),
        "first_write": min(firsts) if firsts else None,
        "last_write": max(lasts) if lasts else None,
        "lanes_done": sum(1 for lane in lanes if lane.get("done")),
        "lanes": len(lanes),
    }


def undo_hint(repair_id: str, applied: Mapping[str, Any]) -> dict[str, Any]:
    hint: dict[str, Any] = {
        "console": {"undo": repair_id},
        "cli": f"dynamodb-dr repair --undo {repair_id}",
    }
    if applied.get("first_write") and applied.get("last_write"):
        first = datetime.fromisoformat(str(applied["first_write"]))
        last = datetime.fromisoformat(str(applied["last_write"]))
        # Its writes are archived like any change: repairing this window undoes them too.
        hint["window"] = {
            "from": _iso(first.replace(microsecond=0)),
            "to": _iso(last.replace(microsecond=0) + SECOND),
        }
    return hint


def build_report(state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    plan: dict[str, Any] = dict(state.get("plan") or {})
    started = datetime.fromisoformat(str(plan.get("started_at") or now.isoformat()).replace("Z", "+00:00"))
    lanes = list(state.get("apply") or [])
    applied = applied_totals(lanes) if lanes else None
    proof = state.get("proof")
    status = _status(plan, applied, proof)
    report = {
        "repair_id": plan.get("repair_id"),
        "status": status,
        "mode": plan.get("mode"),
        "table": plan.get("table"),
        "live_table": plan.get("live_table"),
        "window": plan.get("window"),
        "undo_of": plan.get("undo_of"),
        "filters": plan.get("filters"),
        "changes": plan.get("changes"),
        "keys": plan.get("keys"),
        "erasures": plan.get("erasures"),
        "conflicts": {
            **(plan.get("conflicts") or {}),
            "changed_since_plan": (applied or {}).get("changed_since_plan", 0),
        },
        "sample": plan.get("sample"),
        "estimate": plan.get("estimate"),
        "archive": plan.get("archive"),
        "backup": state.get("backup"),
        "applied": applied,
        "proof": proof,
        "duration_seconds": round((now - started).total_seconds(), 3),
        "data_loss_window": plan.get("data_loss_window"),
    }
    if applied and applied["written"]:
        report["undo"] = undo_hint(str(plan.get("repair_id")), applied)
    return report


def _status(plan: Mapping[str, Any], applied: Mapping[str, Any] | None, proof: Any) -> str:
    if plan.get("dry_run"):
        return "dry-run"
    if not applied:
        return "nothing-to-repair"
    if plan.get("mode") == "undo":
        return "undone"
    return "repaired" if proof else "applied"


def failure_message(state: Mapping[str, Any], lanes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a failed or interrupted repair did, and how to go on (resume) or back (undo)."""
    plan: Mapping[str, Any] = state.get("plan") or {}
    error: Mapping[str, Any] = state.get("error") or {}
    repair_id = plan.get("repair_id")
    applied = applied_totals(lanes) if lanes else None
    message: dict[str, Any] = {
        "repair_id": repair_id,
        "table": plan.get("table"),
        "error": error.get("Error"),
        "cause": _cause(error.get("Cause")),
        "applied": applied,
        "backup": state.get("backup"),
    }
    if plan.get("stored") and applied and applied["lanes_done"] < applied["lanes"]:
        message["resume"] = {
            "console": {"resume": repair_id},
            "cli": f"dynamodb-dr repair --resume {repair_id}",
        }
    if applied and applied["written"]:
        message["undo"] = undo_hint(str(repair_id), applied)
    if not applied or not applied["written"]:
        message["table_changed"] = False
    return message


def subject(report: Mapping[str, Any]) -> str:
    return f"dynamodb-dr: repair {report.get('repair_id')} of {report.get('table')}: {report.get('status')}"[
        :SUBJECT_LIMIT
    ]


def body(message: Mapping[str, Any]) -> str:
    return json.dumps(message, indent=2, default=str)


def _cause(cause: Any) -> Any:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause[:2000]
        if isinstance(parsed, dict):
            return {k: parsed.get(k) for k in ("errorType", "errorMessage") if k in parsed} or parsed
    return cause


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
