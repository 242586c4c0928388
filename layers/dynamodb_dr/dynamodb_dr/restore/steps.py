"""The restore state machine's Lambda steps: one function per `action`, on injected clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr.core.errors import (
    DynamoDbDrError,
    RestoreTimedOut,
    RestoreValidationFailed,
    SettingsDiffRemaining,
)
from dynamodb_dr.restore import checksum, validate
from dynamodb_dr.restore.archive_check import archive_sample
from dynamodb_dr.restore.env import StepEnv, plan_of
from dynamodb_dr.restore.fence import carry_over
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.notify import notify
from dynamodb_dr.restore.plan import build_plan
from dynamodb_dr.restore.table_settings import NOT_CARRIED_OVER, SIDE_EFFECTS
from dynamodb_dr.restore.tables import TAG_EXECUTION, TAG_POINT, TAG_SOURCE


def validate_request(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    started = datetime.fromisoformat(str(event["started_at"]).replace("Z", "+00:00")).astimezone(UTC)
    machine = event.get("state_machine")
    plan = build_plan(
        event.get("request"),
        execution=str(event["execution"]),
        started_at=started,
        context=env.planning(str(machine) if machine else None),
    )
    return plan.model_dump(mode="json")


def start_restore(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """Reserve each target name for this execution, then ask DynamoDB for the restore. A retry
    (after a lost response) finds its own reservation and restore and goes on."""
    plan = plan_of(event)
    assert plan.restore_time
    tables, reservations = env.tables, env.reservations
    env.plans.save(plan)  # what a later resume of this execution picks up
    started = []
    for t in plan.tables:
        reservations.reserve(t.target, plan.table_owner)
        tags = _restore_tags(plan, t.source) | env.settings.protect_tags  # the stack's roles reach it
        started.append(
            {
                "logical": t.logical,
                "target": t.target,
                "status": tables.start_restore(t.source, t.target, plan.restore_time, tags),
            }
        )
    return {"tables": started}


def _restore_tags(plan: Plan, source: str) -> dict[str, str]:
    assert plan.restore_time
    return {TAG_EXECUTION: plan.table_owner, TAG_SOURCE: source, TAG_POINT: plan.restore_time.isoformat()}


def check_restore(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """One poll of the restores. Missing the RTO is announced once and the wait goes on; only
    the hard limit ends it (RestoreTimedOut: the tables are kept, the run can be resumed)."""
    plan = plan_of(event)
    attempt = int(event.get("attempt") or 0) + 1
    waited = float(event.get("waited") or 0)
    # Waits are counted as planned too, so a clock-less emulator still reaches the limit.
    elapsed = max(waited, (datetime.now(UTC) - plan.started_at).total_seconds())
    statuses = {}
    for t in plan.tables:
        status, indexes = env.tables.status(t.target)
        statuses[t.target] = status if all(s == "ACTIVE" for s in indexes.values()) else f"{status}/INDEXES"
        if status == "ACTIVE":  # tags a CREATING table may have refused
            env.tables.try_tag(t.target, _restore_tags(plan, t.source) | env.settings.protect_tags)
    result: dict[str, Any] = {
        "attempt": attempt,
        "statuses": statuses,
        "elapsed_seconds": round(elapsed),
        "all_active": all(s == "ACTIVE" for s in statuses.values()),
        "rto_missed_now": False,
        "wait_seconds": 0,
        "waited": waited,
    }
    if result["all_active"]:
        return result
    if elapsed >= plan.poll.limit_seconds:
        raise RestoreTimedOut(
            f"restores not ACTIVE after {elapsed / 3600:.1f} h, the hard limit: {statuses}. The tables are "
            f'kept; once ACTIVE, finish with {{"resume": {{"execution": "{plan.execution}"}}}}'
        )
    if elapsed >= plan.poll.rto_alert_seconds and env.alerts.first(plan.execution, "RTO-MISSED"):
        result["rto_missed_now"] = True
        result["rto_notified"] = _announce_rto_missed(plan, env, statuses, elapsed)
    wait = plan.poll.next_wait(elapsed)
    result.update(wait_seconds=wait, waited=waited + wait)
    return result


def _announce_rto_missed(plan: Plan, env: StepEnv, statuses: dict[str, str], elapsed: float) -> bool:
    expected = plan.estimate.restore_seconds if plan.estimate else None
    message = {
        "execution": plan.execution,
        "news": f"the RTO of {plan.rto_minutes} min will be missed; the restore goes on",
        "restoring_for_minutes": round(elapsed / 60, 1),
        "expected_restore_minutes": round(expected / 60, 1) if expected else None,
        "statuses": statuses,
        "gives_up_after_hours": round(plan.poll.limit_seconds / 3600, 1),
    }
    try:
        return notify(env, f"dynamodb-dr restore {plan.execution}: RTO will be missed", message)
    except DynamoDbDrError:  # the metric (RestoreRtoMissed) still raises the alarm
        return False


def reapply_settings(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    settings = env.table_settings
    out = []
    for t in plan.tables:
        results = settings.reapply(t.source, t.target, skip=_skipped(plan))
        out.append(
            {
                "logical": t.logical,
                "target": t.target,
                "applied": [r.setting for r in results if r.status == "applied"],
                "not_reapplied": [asdict(r) for r in results if r.status in {"failed", "not-verifiable"}],
                "skipped": [r.setting for r in results if r.status == "skipped"],
            }
        )
    return {"tables": out}


def diff_settings(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    settings = env.table_settings
    remaining, accepted = {}, {}
    for t in plan.tables:
        diff = settings.diff(t.source, t.target, skip=_skipped(plan))
        blocking = {k: v for k, v in diff.items() if k not in plan.accept_setting_differences}
        if blocking:
            remaining[t.logical] = blocking
        if len(blocking) != len(diff):
            accepted[t.logical] = sorted(set(diff) - set(blocking))
    if remaining:
        summary = {logical: sorted(d) for logical, d in remaining.items()}
        raise SettingsDiffRemaining(f"restored tables still differ from their sources: {summary}")
    return {"accepted_differences": accepted}


def _skipped(plan: Plan) -> frozenset[str]:
    """A run that never cuts over applies no setting with effects outside the restored table, and
    only reports what a restore does not carry over (nothing would be switched anyway)."""
    return SIDE_EFFECTS | NOT_CARRIED_OVER if plan.cutover == "none" else frozenset()


def plan_validation(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    return {"segments": validate.segments(plan_of(event))}


def scan_segment(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    segment = event["segment"]
    progress = checksum.SegmentProgress(**(event.get("progress") or {}))
    result = checksum.scan_segment(
        env.clients.client("dynamodb"),
        segment["table"],
        int(segment["segment"]),
        int(segment["total"]),
        progress=progress,
        remaining_ms=env.remaining_ms,
    )
    return result.as_dict()


def compare(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    figures = validate.evaluate(plan, event.get("results"), env.tables, _archive_check(plan, env))
    failed = {f.logical: f.problems for f in figures if f.problems}
    if failed:
        raise RestoreValidationFailed(f"validation failed: {failed}")
    return {"tables": [asdict(f) for f in figures]}


def _archive_check(plan: Plan, env: StepEnv) -> Callable[[str, str], dict[str, Any]] | None:
    if not env.archive_bucket:
        return None
    store = ArchiveStore(env.clients.client("s3"), env.archive_bucket)
    assert plan.restore_time
    restore_time = plan.restore_time

    def check(logical: str, target: str) -> dict[str, Any]:
        try:
            return _sample(logical, target)
        except DynamoDbDrError as exc:  # an unreadable archive must not block a recovery
            return {"status": "unavailable", "detail": str(exc)[:300], "checked": 0, "mismatches": 0}

    def _sample(logical: str, target: str) -> dict[str, Any]:
        return archive_sample(
            store,
            env.clients.client("dynamodb"),
            logical=logical,
            target=target,
            restore_time=restore_time,
            sample_size=plan.validation.archive_sample,
            seed=plan.execution,
        )

    return check


def catch_up(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """Replay the CDC archive's changes after the restore point into the restored tables.

    Uses `dynamodb_dr.cdc.replay` (last writer per key wins, idempotent) when the stack has an
    archive bucket; reports `skipped` otherwise.
    """
    plan = plan_of(event)
    assert plan.restore_time
    if not env.archive_bucket:
        return {"status": "skipped", "detail": "no archive bucket configured (ARCHIVE_BUCKET)"}
    store = ArchiveStore(env.clients.client("s3"), env.archive_bucket)
    until = datetime.now(UTC)
    # Every protected live table (physical -> logical): replay must never write into one.
    live = {p.live_table: p.logical_name for p in env.registry.resolve_all()}
    reports = []
    for t in plan.tables:
        request = ReplayRequest(table=t.logical, start=plan.restore_time, end=until, target=t.target)
        report = replay(request, store, env.clients.client("dynamodb"), live)
        reports.append({"logical": t.logical, **asdict(report)})
    return {"status": "replayed", "detail": {"until": until.isoformat(), "tables": reports}}


def carry_over_writes(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    """After the cutover and the fence: the writes the old tables received since the pointers
    switched (since the restore point when catch_up ran) are replayed into the restored tables."""
    event = event.get("state") or {}
    plan = plan_of(event)
    assert plan.restore_time
    if not env.archive_bucket:
        return {"status": "skipped", "detail": "no archive bucket configured (ARCHIVE_BUCKET)"}
    switched_at = _moment((event.get("cutover") or {}).get("switched_at")) or datetime.now(UTC)
    fence = event.get("fence") or {}
    fenced_at = _moment(fence.get("fenced_at")) or datetime.now(UTC)  # not fenced: up to now
    catch = event.get("catch_up") or {}
    caught_up_to = (
        _moment((catch.get("detail") or {}).get("until")) if catch.get("status") == "replayed" else None
    )
    store = ArchiveStore(env.clients.client("s3"), env.archive_bucket)
    tables = [
        asdict(
            carry_over(
                store,
                env.clients.client("dynamodb"),
                logical=t.logical,
                source=t.source,
                target=t.target,
                restore_point=plan.restore_time,
                since=caught_up_to or switched_at,
                fenced_at=fenced_at,
            )
        )
        for t in plan.tables
    ]
    return {"status": "carried-over", "fenced": "fenced_at" in fence, "tables": tables}


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
