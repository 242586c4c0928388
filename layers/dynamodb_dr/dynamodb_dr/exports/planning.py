"""Planning one table's next export: a base FULL, a scheduled FULL, or the next incremental window."""

from __future__ import annotations

from datetime import UTC, datetime

from dynamodb_dr.core.errors import DynamoDbDrError, PitrUnavailable
from dynamodb_dr.exports.api import client_token
from dynamodb_dr.exports.chain import (
    ChainHead,
    ExportChainStore,
    ExportRecord,
    ExportType,
    GapRecord,
    compact,
    record_sk,
)
from dynamodb_dr.exports.models import (
    MAX_WINDOW,
    MIN_WINDOW,
    ExportDependencies,
    ExportSettings,
    ExportTick,
    TableExportResult,
)


def plan(
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
    head = _follow_live_table(result, head, tick, full_time=full_time, deps=deps)
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


def _follow_live_table(
    result: TableExportResult,
    head: ChainHead,
    tick: ExportTick,
    *,
    full_time: datetime,
    deps: ExportDependencies,
) -> ChainHead:
    """A chain holds the exports of one physical table. After a cutover or a rollback the live
    table is another one: its exports cannot continue the old chain (a rebuild would replay the
    old table's history onto a base that never held the new table's content), so the chain
    restarts with a base FULL export of the new live table, and the break is recorded."""
    logical, live = result.logical_name, result.live_table
    changed = False
    if head.pending_base:
        pending = deps.store.get(logical, head.pending_base)
        if pending is not None and pending.physical_table != live:
            deps.store.update_head(
                logical,
                remove=("pending_base",),
                condition="#pending_base = :c_sk",
                condition_values={":c_sk": head.pending_base},
            )
            changed = True
    base = deps.store.get(logical, head.base_sk) if head.next_from and head.base_sk else None
    if head.next_from and base is not None and base.physical_table != live:
        _restart_chain(
            logical,
            tick,
            deps,
            gap_from=head.next_from,
            full_time=full_time,
            reason=f"live table changed from {base.physical_table} to {live} (restore cutover "
            f"or rollback): the chain restarts with a FULL export of {live}",
            remove=("next_from", "base_sk"),
        )
        result.gap = changed = True
    return deps.store.head(logical) if changed else head


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
    _restart_chain(
        logical,
        tick,
        deps,
        gap_from=head.next_from,
        full_time=full_time,
        reason=f"chain resumes at {head.next_from.isoformat()}, before the earliest "
        f"restorable time {earliest.isoformat()} (PITR window slid or PITR was off)",
        remove=("next_from",),
    )
    result.gap = True
    return deps.store.head(logical)


def _restart_chain(
    logical: str,
    tick: ExportTick,
    deps: ExportDependencies,
    *,
    gap_from: datetime,
    full_time: datetime,
    reason: str,
    remove: tuple[str, ...],
) -> None:
    """Record the gap from `gap_from` to the base FULL export at `full_time` that heals it, and
    drop the head's resume point (`remove`, if it still is `gap_from`) so that FULL is planned."""
    deps.store.record_gap(
        GapRecord(
            logical_name=logical,
            tick=tick.tick_id,
            gap_from=gap_from,
            gap_to=full_time,
            reason=reason,
            healed_by=record_sk(full_time, "FULL"),
        )
    )
    deps.store.update_head(
        logical,
        remove=remove,
        count_gap=True,
        condition="#next_from = :c_from",
        condition_values={":c_from": gap_from.isoformat()},
    )


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
    attempt = attempt_number(head.last_incr_sk, window_to)
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


def attempt_number(last_incr_sk: str | None, window_to: datetime) -> int:
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
        s3_bucket=config.export_bucket,
        s3_prefix=f"{config.export_prefix}/{logical}/{export_type.lower()}/{compact(window_to)}-{attempt}",
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
            bucket=config.export_bucket,
            prefix=record.s3_prefix,
            token=record.client_token,
            export_time=window_to,
            window_from=window_from,
            kms_key_id=config.export_kms_key_id,
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
