"""Scheduled protection run: PITR guard, one on-demand backup per tick, retention pruning."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dynamodb_dr.backup.create import Clock, take_tick_backup
from dynamodb_dr.backup.ledger import BackupLedger, BackupRecord
from dynamodb_dr.core.config import ResolvedPolicies, Settings, StackSettings, TablePolicy
from dynamodb_dr.core.dynamo import BackupSummary, DynamoControl
from dynamodb_dr.core.errors import DynamoDbDrError, TableNotProtected, TickImplausible
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.registry import TableRegistry

logger = logging.getLogger(__name__)

# A tick may be this far ahead of the clock (scheduler and Lambda clocks differ slightly).
TICK_SKEW = timedelta(minutes=5)


class BackupSettings(StackSettings):
    """The backup function's environment: the stack-wide settings (it needs nothing else)."""


@dataclass
class TableBackupResult:
    logical_name: str
    live_table: str | None = None
    pitr: str = "unknown"  # enabled | repaired | disabled
    replica: str = "off"  # off | <status in the DR region, lower case> | added
    backup: str = "skipped"  # created | exists | disabled | skipped (errors say why)
    backup_name: str | None = None
    deleted: list[str] = field(default_factory=list)
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class BackupRunReport:
    tick: str
    tables: list[TableBackupResult]

    @property
    def failed_tables(self) -> list[str]:
        return [t.logical_name for t in self.tables if not t.ok]


@dataclass
class BackupDependencies:
    registry: TableRegistry
    dynamo: DynamoControl
    ledger: BackupLedger
    clock: Clock = field(default_factory=lambda: system_clock(timedelta(minutes=15)))


def system_clock(remaining: timedelta) -> Clock:
    """The real clock, for an invocation that may run for `remaining` more."""
    return Clock(now=lambda: datetime.now(UTC), deadline=datetime.now(UTC) + remaining, sleep=time.sleep)


def run_backups(
    tick: ScheduleTick, settings: Settings, policies: ResolvedPolicies, deps: BackupDependencies
) -> BackupRunReport:
    """Protect every table (or the tick's subset). One table's failure never stops the others."""
    now = deps.clock.now()
    if tick.scheduled_time > now + TICK_SKEW:
        raise TickImplausible(
            f"tick {tick.tick_id} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ}): refused, nothing done"
        )
    names = tick.tables or settings.protected_tables
    unknown = [name for name in names if name not in settings.protected_tables]
    if unknown:
        raise TableNotProtected(f"tables not protected by this stack: {unknown}")
    results = [_protect_table(name, tick, policies, deps) for name in names]
    return BackupRunReport(tick=tick.tick_id, tables=results)


def _protect_table(
    logical_name: str, tick: ScheduleTick, policies: ResolvedPolicies, deps: BackupDependencies
) -> TableBackupResult:
    result = TableBackupResult(logical_name)
    policy = policies.policies[logical_name]
    policy_ok = policies.is_valid(logical_name)
    if not policy_ok:
        result.errors.append(f"PolicyError: {policies.invalid[logical_name]}")
    try:
        result.live_table = deps.registry.resolve(logical_name).live_table
        _guard_pitr(result, policy, apply_changes=policy_ok, dynamo=deps.dynamo)
    except DynamoDbDrError as exc:
        result.errors.append(f"{exc.code}: {exc}")
        return result  # without a readable table nothing else can succeed
    steps = (_take_backup, _prune, _guard_replica) if policy_ok else (_take_backup,)
    for step in steps:
        try:
            step(result, tick, policy, deps)
        except DynamoDbDrError as exc:
            result.errors.append(f"{exc.code}: {exc}")
    return result


def _guard_pitr(
    result: TableBackupResult, policy: TablePolicy, *, apply_changes: bool, dynamo: DynamoControl
) -> None:
    assert result.live_table
    if dynamo.pitr_status(result.live_table).enabled:
        result.pitr = "enabled"
        return
    if policy.enforce_pitr and apply_changes:
        dynamo.enable_pitr(result.live_table, policy.pitr_recovery_period_days)
        result.pitr = "repaired"
    else:
        result.pitr = "disabled"


def _guard_replica(
    result: TableBackupResult, tick: ScheduleTick, policy: TablePolicy, deps: BackupDependencies
) -> None:
    """Make sure the live table has a replica in the DR region (added when missing)."""
    region = policy.dr_replica_region
    if not region:
        return
    assert result.live_table
    replicas = deps.dynamo.describe_table(result.live_table).get("Replicas") or []
    status = next(
        (r.get("ReplicaStatus", "UNKNOWN") for r in replicas if r.get("RegionName") == region), None
    )
    if status is not None:
        result.replica = str(status).lower()
        return
    deps.dynamo.add_replica(result.live_table, region)
    result.replica = "added"


def _take_backup(
    result: TableBackupResult, tick: ScheduleTick, policy: TablePolicy, deps: BackupDependencies
) -> None:
    if not policy.backups_enabled:
        result.backup = "disabled"
        return
    assert result.live_table
    done = take_tick_backup(
        result.logical_name, result.live_table, tick, dynamo=deps.dynamo, ledger=deps.ledger, clock=deps.clock
    )
    result.backup, result.backup_name = done.status, done.name


def _prune(
    result: TableBackupResult, tick: ScheduleTick, policy: TablePolicy, deps: BackupDependencies
) -> None:
    """Delete this tool's backups past retention, always keeping the newest `min_backups_kept`.

    Only backups recorded in the ledger are candidates, and only while AWS still lists them as
    AVAILABLE under the same name: a backup someone else made is never touched.
    """
    ours = deps.ledger.created_backups(result.logical_name)
    listed: dict[str, BackupSummary] = {}
    for physical in sorted({r.physical_table for r in ours}):
        listed.update({b.arn: b for b in deps.dynamo.list_user_backups(physical)})
    available = sorted((r for r in ours if _is_available(r, listed)), key=lambda r: r.tick, reverse=True)
    # Age is measured against the current time, never the tick's (run_backups refuses future ticks).
    cutoff = deps.clock.now() - timedelta(days=policy.backup_retention_days)
    keep, candidates = available[: policy.min_backups_kept], available[policy.min_backups_kept :]
    result.kept = len(keep)
    for record in candidates:
        if _tick_time(record) >= cutoff:
            result.kept += 1
            continue
        assert record.backup_arn
        deps.dynamo.delete_backup(record.backup_arn)
        deps.ledger.record_deleted(result.logical_name, record.tick, deps.clock.now())
        result.deleted.append(record.backup_name)


def _is_available(record: BackupRecord, listed: dict[str, BackupSummary]) -> bool:
    summary = listed.get(record.backup_arn or "")
    return bool(summary and summary.status == "AVAILABLE" and summary.name == record.backup_name)


def _tick_time(record: BackupRecord) -> datetime:
    return datetime.strptime(record.tick, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
