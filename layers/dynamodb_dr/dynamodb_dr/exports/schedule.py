"""Scheduled S3 exports: a FULL export per table on one schedule, a gap-free INCREMENTAL chain on another.

Every tick (either schedule) first follows the table's in-flight exports to COMPLETED/FAILED
(`describe_export`), then plans at most one new export:

- no chain yet, or the chain's next start is older than the earliest restorable time (the PITR
  window slid or PITR was off): record a gap and start a *base* FULL export; incrementals wait
  for it and then continue from its export time;
- export-full: a FULL export as of the tick (skipped while the previous FULL is still running);
- export-incremental: the window [next_from, tick] clamped to 24 h; windows under 15 min wait
  for a later tick; skipped while the previous incremental is still running. The chain only
  advances when an incremental COMPLETES, so a failed window is simply exported again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr.core.errors import ConfigurationError, DynamoDbDrError, PitrUnavailable, TableNotProtected
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.exports.api import ChainIndex, DynamoExports, Notifier, client_token
from dynamodb_dr.exports.chain import (
    ChainConflict,
    ChainHead,
    ExportChainStore,
    ExportRecord,
    ExportType,
    GapRecord,
    compact,
    record_sk,
)

logger = logging.getLogger(__name__)

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
ExportTask = Literal["export-full", "export-incremental"]


class ExportTick(ScheduleTick):
    task: ExportTask


class ExportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(min_length=3)
    prefix: str = "exports"
    kms_key_id: str | None = None
    topic_arn: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ExportSettings:
        try:
            return cls(
                bucket=environ["EXPORT_BUCKET"],
                prefix=environ.get("EXPORT_PREFIX", "exports").strip("/") or "exports",
                kms_key_id=environ.get("EXPORT_KMS_KEY_ID") or None,
                topic_arn=environ.get("EXPORT_TOPIC_ARN") or None,
            )
        except KeyError as exc:
            raise ConfigurationError(f"missing environment variable {exc.args[0]}") from exc
        except ValidationError as exc:
            raise ConfigurationError(f"invalid export settings: {exc}") from exc


@dataclass
class ExportDependencies:
    registry: TableRegistry
    dynamo: DynamoControl
    exports: DynamoExports
    store: ExportChainStore
    index: ChainIndex
    notifier: Notifier


@dataclass
class TableExportResult:
    logical_name: str
    live_table: str | None = None
    action: str = "skipped"  # started-full | started-incremental | exists | waiting | window-too-short
    started: str | None = None
    window: tuple[str | None, str] | None = None
    gap: bool = False
    tracked: dict[str, str] = field(default_factory=dict)  # sk -> COMPLETED | FAILED
    in_progress: list[str] = field(default_factory=list)
    failed_exports: list[str] = field(default_factory=list)
    age_minutes: dict[str, float] = field(default_factory=dict)  # FULL / INCREMENTAL
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ExportRunReport:
    task: str
    tick: str
    tables: list[TableExportResult]

    @property
    def failed_tables(self) -> list[str]:
        return [t.logical_name for t in self.tables if not t.ok]


def run_exports(
    tick: ExportTick, settings: Settings, config: ExportSettings, deps: ExportDependencies
) -> ExportRunReport:
    """Track and start exports for every table (or the tick's subset); one failure never stops the others."""
    names = tick.tables or settings.protected_tables
    unknown = [name for name in names if name not in settings.protected_tables]
    if unknown:
        raise TableNotProtected(f"tables not protected by this stack: {unknown}")
    results = [_process(name, tick, config, deps) for name in names]
    return ExportRunReport(task=tick.task, tick=tick.tick_id, tables=results)


def _process(
    logical: str, tick: ExportTick, config: ExportSettings, deps: ExportDependencies
) -> TableExportResult:
    result = TableExportResult(logical)
    try:
        result.live_table = deps.registry.resolve(logical).live_table
        for _ in range(3):
            try:
                _track(result, deps)
                _plan(result, tick, config, deps)
                break
            except ChainConflict as exc:  # a concurrent run moved the head: plan again
                logger.warning(
                    "export chain conflict, re-planning", extra={"table": logical, "err": str(exc)}
                )
        else:
            result.errors.append(f"ExportChainError: chain of {logical} kept changing concurrently")
    except DynamoDbDrError as exc:
        result.errors.append(f"{exc.code}: {exc}")
    _ages(result, tick, deps)
    return result


# ---------------------------------------------------------------- tracking
def _track(result: TableExportResult, deps: ExportDependencies) -> None:
    logical = result.logical_name
    head = deps.store.head(logical)
    result.in_progress = []
    for sk in sorted(head.inflight):
        record = deps.store.get(logical, sk)
        if record is None or record.export_arn is None:
            deps.store.update_head(logical, drop_inflight=sk)
            continue
        view = deps.exports.describe(record.export_arn, record.physical_table)
        if view.status not in ("COMPLETED", "FAILED"):
            result.in_progress.append(sk)
            continue
        record.status = "COMPLETED" if view.status == "COMPLETED" else "FAILED"
        record.item_count, record.manifest_key = view.item_count, _manifest_key(record, view.manifest_key)
        record.failure = view.failure
        record.ended_at = view.ended_at or datetime.now(UTC)
        deps.store.save(record)
        if record.status == "COMPLETED":
            deps.index.put(logical, sk, record.model_dump_json())
        else:
            result.failed_exports.append(sk)
            deps.notifier.export_failed(logical, record.model_dump(exclude={"table_schema"}))
        _advance_head(record, deps.store)
        result.tracked[sk] = record.status


def _manifest_key(record: ExportRecord, manifest: str | None) -> str | None:
    """The manifest's full S3 key (made absolute should the API give it relative to the prefix)."""
    if not manifest or manifest.startswith(record.s3_prefix):
        return manifest
    return f"{record.s3_prefix.rstrip('/')}/{manifest.lstrip('/')}"


def _advance_head(record: ExportRecord, store: ExportChainStore) -> None:
    logical, sk, to = record.logical_name, record.sk, record.window_to.isoformat()
    done = record.status == "COMPLETED"
    if record.export_type == "INCREMENTAL":
        assert record.window_from
        if done:
            try:  # the chain advances only if it still continues from this window's start
                store.update_head(
                    logical,
                    set_={"next_from": to, "last_incr_to": to},
                    drop_inflight=sk,
                    condition="#next_from = :c_from",
                    condition_values={":c_from": record.window_from.isoformat()},
                )
                return
            except ChainConflict:
                pass  # the chain was re-based meanwhile: this window no longer extends it
        store.update_head(logical, drop_inflight=sk)
        return
    if record.base:
        base_set = {"next_from": to, "base_sk": sk} if done else {}
        try:
            store.update_head(
                logical,
                set_={**base_set, **({"last_full_to": to} if done else {})},
                remove=("pending_base",),
                drop_inflight=sk,
                condition="#pending_base = :c_sk",
                condition_values={":c_sk": sk},
            )
            return
        except ChainConflict:
            pass
    store.update_head(logical, set_={"last_full_to": to} if done else None, drop_inflight=sk)


# ---------------------------------------------------------------- planning
def _plan(
    result: TableExportResult, tick: ExportTick, config: ExportSettings, deps: ExportDependencies
) -> None:
    logical, live = result.logical_name, result.live_table
    assert live
    head = deps.store.head(logical)
    pitr = deps.dynamo.pitr_status(live)
    if not pitr.enabled:
        raise PitrUnavailable(f"PITR is off for {live}: no export until it is on again", table=logical)
    earliest = pitr.earliest_restorable
    # Exports must lie inside the PITR window, whose end trails the clock by about five minutes.
    latest = pitr.latest_restorable.replace(microsecond=0) if pitr.latest_restorable else None
    now = min(tick.scheduled_time, latest or tick.scheduled_time)
    full_time = max(now, earliest or now)
    head = _heal_gap(result, head, tick, earliest=earliest, full_time=full_time, deps=deps)
    if head.next_from is None:  # no usable chain: a base FULL export (re)starts it
        if head.pending_base:
            result.action = "waiting"
        else:
            _start(
                result,
                tick,
                config,
                deps,
                export_type="FULL",
                window_from=None,
                window_to=full_time,
                base=True,
            )
    elif tick.task == "export-full":
        if head.last_full_tick == tick.tick_id:  # a retried tick (its export time may differ)
            result.action = "exists"
        elif any("#FULL#" in sk for sk in head.inflight):
            result.action = "waiting"
        else:
            _start(result, tick, config, deps, export_type="FULL", window_from=None, window_to=full_time)
    else:
        _plan_incremental(result, head, tick, now=now, config=config, deps=deps)


def _heal_gap(
    result: TableExportResult,
    head: ChainHead,
    tick: ExportTick,
    *,
    earliest: datetime | None,
    full_time: datetime,
    deps: ExportDependencies,
) -> ChainHead:
    """A chain resuming before the earliest restorable time cannot continue: record the gap and
    drop `next_from`, so a base FULL export restarts the chain."""
    if not (head.next_from and earliest and head.next_from < earliest):
        return head
    logical = result.logical_name
    deps.store.record_gap(
        GapRecord(
            logical_name=logical,
            tick=tick.tick_id,
            gap_from=head.next_from,
            gap_to=full_time,
            reason=f"chain resumes at {head.next_from.isoformat()}, before the earliest "
            f"restorable time {earliest.isoformat()} (PITR window slid or PITR was off)",
            healed_by=record_sk(full_time, "FULL"),
        )
    )
    deps.store.update_head(
        logical,
        remove=("next_from",),
        count_gap=True,
        condition="#next_from = :c_from",
        condition_values={":c_from": head.next_from.isoformat()},
    )
    result.gap = True
    return deps.store.head(logical)


def _plan_incremental(
    result: TableExportResult,
    head: ChainHead,
    tick: ExportTick,
    *,
    now: datetime,
    config: ExportSettings,
    deps: ExportDependencies,
) -> None:
    assert head.next_from
    if head.last_incr_sk and head.last_incr_sk in head.inflight:
        result.action = "waiting"
        return
    window_from = head.next_from
    window_to = min(now, window_from + MAX_WINDOW)
    if window_to - window_from < MIN_WINDOW:
        result.action = "window-too-short"
        return
    attempt = _attempt(head.last_incr_sk, window_to)
    _start(
        result,
        tick,
        config,
        deps,
        export_type="INCREMENTAL",
        window_from=window_from,
        window_to=window_to,
        attempt=attempt,
    )


def _attempt(last_incr_sk: str | None, window_to: datetime) -> int:
    """Exporting a failed window again needs a new attempt number (and so a new ClientToken)."""
    same_window = record_sk(window_to, "INCREMENTAL", 1).rsplit("#", 1)[0] + "#"
    if last_incr_sk and last_incr_sk.startswith(same_window):
        return int(last_incr_sk.rsplit("#", 1)[1]) + 1
    return 1


def _start(
    result: TableExportResult,
    tick: ExportTick,
    config: ExportSettings,
    deps: ExportDependencies,
    *,
    export_type: ExportType,
    window_from: datetime | None,
    window_to: datetime,
    base: bool = False,
    attempt: int = 1,
) -> None:
    logical, live = result.logical_name, result.live_table
    assert live
    table_arn, schema = deps.exports.table_arn_and_schema(live)
    record = ExportRecord(
        logical_name=logical,
        export_type=export_type,
        attempt=attempt,
        tick=tick.tick_id,
        physical_table=live,
        window_from=window_from,
        window_to=window_to,
        base=base,
        client_token=client_token(live, export_type, window_to, attempt),
        s3_bucket=config.bucket,
        s3_prefix=f"{config.prefix}/{logical}/{export_type.lower()}/{compact(window_to)}-{attempt}",
        started_at=datetime.now(UTC),
        table_schema=schema if export_type == "FULL" else None,
    )
    result.window = (window_from.isoformat() if window_from else None, window_to.isoformat())
    existing = deps.store.claim(record)
    if existing and existing.export_arn:
        result.action, result.started = "exists", existing.sk
        _link(existing, deps.store)
        return
    record = existing or record  # a claim left by an attempt that died before starting: resume it
    try:
        record.export_arn = deps.exports.start(
            table_arn=table_arn,
            table=live,
            bucket=config.bucket,
            prefix=record.s3_prefix,
            token=record.client_token,
            export_time=window_to,
            window_from=window_from,
            kms_key_id=config.kms_key_id,
        )
    except DynamoDbDrError as exc:
        record.status, record.failure = "FAILED", f"{exc.code}: {exc}"
        deps.store.save(record)
        raise
    record.status = "IN_PROGRESS"
    deps.store.save(record)
    _link(record, deps.store)
    result.action, result.started = f"started-{export_type.lower()}", record.sk


def _link(record: ExportRecord, store: ExportChainStore) -> None:
    """Put a started export into the head (idempotent: safe to repeat for a retried tick)."""
    if record.status in ("COMPLETED", "FAILED"):
        return
    logical, sk = record.logical_name, record.sk
    if record.export_type == "INCREMENTAL":
        assert record.window_from
        store.update_head(
            logical,
            set_={"last_incr_sk": sk},
            add_inflight=sk,
            condition="#next_from = :c_from",
            condition_values={":c_from": record.window_from.isoformat()},
        )
    elif record.base:
        store.update_head(
            logical,
            set_={"pending_base": sk, "last_full_tick": record.tick},
            add_inflight=sk,
            condition="attribute_not_exists(#pending_base) OR #pending_base = :c_sk",
            condition_values={":c_sk": sk},
        )
    else:
        store.update_head(logical, set_={"last_full_tick": record.tick}, add_inflight=sk)


def _ages(result: TableExportResult, tick: ExportTick, deps: ExportDependencies) -> None:
    try:
        head = deps.store.head(result.logical_name)
    except DynamoDbDrError:
        return
    for kind, last in (("FULL", head.last_full_to), ("INCREMENTAL", head.last_incr_to)):
        if last:
            result.age_minutes[kind] = round((tick.scheduled_time - last).total_seconds() / 60, 1)
