"""The restore state machine's Lambda steps: one function per `action`, on injected clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr.core.errors import (
    DynamoDbDrError,
    InvalidInput,
    RestoreTimedOut,
    RestoreValidationFailed,
    SettingsDiffRemaining,
)
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.restore import checksum, validate
from dynamodb_dr.restore.archive_check import archive_sample
from dynamodb_dr.restore.config import RestoreSettings
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.plan import build_plan
from dynamodb_dr.restore.table_settings import TableSettings
from dynamodb_dr.restore.tables import TAG_EXECUTION, TAG_POINT, TAG_SOURCE, RestoreTables


@dataclass
class StepEnv:
    settings: RestoreSettings
    clients: AwsClients
    remaining_ms: Callable[[], int]

    @property
    def topic_arn(self) -> str | None:
        return self.settings.restore_topic_arn

    @property
    def archive_bucket(self) -> str | None:
        return self.settings.archive_bucket

    @property
    def tables(self) -> RestoreTables:
        return RestoreTables(self.clients.client("dynamodb"))

    @property
    def registry(self) -> TableRegistry:
        return TableRegistry(self.settings, self.clients.client("ssm"))

    @property
    def table_settings(self) -> TableSettings:
        c = self.clients.client
        return TableSettings(c("dynamodb"), c("application-autoscaling"), c("cloudwatch"))


def plan_of(event: dict[str, Any]) -> Plan:
    if not isinstance(event.get("plan"), dict):
        raise InvalidInput("event has no plan")
    return Plan.model_validate(event["plan"])


def validate_request(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    started = datetime.fromisoformat(str(event["started_at"]).replace("Z", "+00:00")).astimezone(UTC)
    plan = build_plan(
        event.get("request"),
        execution=str(event["execution"]),
        started_at=started,
        settings=env.settings,
        registry=env.registry,
        tables=env.tables,
    )
    return plan.model_dump(mode="json")


def start_restore(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    assert plan.restore_time
    tables = env.tables
    started = []
    for t in plan.tables:
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
    return {TAG_EXECUTION: plan.execution, TAG_SOURCE: source, TAG_POINT: plan.restore_time.isoformat()}


def check_restore(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    attempt = int(event.get("attempt") or 0) + 1
    statuses = {}
    for t in plan.tables:
        status, indexes = env.tables.status(t.target)
        statuses[t.target] = status if all(s == "ACTIVE" for s in indexes.values()) else f"{status}/INDEXES"
    all_active = all(s == "ACTIVE" for s in statuses.values())
    if all_active:  # tags a CREATING table may have refused
        assert plan.restore_time
        for t in plan.tables:
            env.tables.try_tag(t.target, _restore_tags(plan, t.source) | env.settings.protect_tags)
    if not all_active and attempt >= plan.poll.max_attempts:
        waited = plan.poll.max_attempts * plan.poll.interval_seconds
        raise RestoreTimedOut(f"restores not ACTIVE after {attempt} checks (~{waited} s): {statuses}")
    return {"attempt": attempt, "all_active": all_active, "statuses": statuses}


def reapply_settings(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    settings = env.table_settings
    out = []
    for t in plan.tables:
        results = settings.reapply(t.source, t.target)
        out.append(
            {
                "logical": t.logical,
                "target": t.target,
                "applied": [r.setting for r in results if r.status == "applied"],
                "not_reapplied": [asdict(r) for r in results if r.status in {"failed", "not-verifiable"}],
            }
        )
    return {"tables": out}


def diff_settings(event: dict[str, Any], env: StepEnv) -> dict[str, Any]:
    plan = plan_of(event)
    settings = env.table_settings
    remaining, accepted = {}, {}
    for t in plan.tables:
        diff = settings.diff(t.source, t.target)
        blocking = {k: v for k, v in diff.items() if k not in plan.accept_setting_differences}
        if blocking:
            remaining[t.logical] = blocking
        if len(blocking) != len(diff):
            accepted[t.logical] = sorted(set(diff) - set(blocking))
    if remaining:
        summary = {logical: sorted(d) for logical, d in remaining.items()}
        raise SettingsDiffRemaining(f"restored tables still differ from their sources: {summary}")
    return {"accepted_differences": accepted}


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
    figures = validate.evaluate(plan, list(event.get("results") or []), env.tables, _archive_check(plan, env))
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
