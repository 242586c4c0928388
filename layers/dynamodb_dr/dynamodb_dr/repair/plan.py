"""Plan a repair (or the undo of one): read the window, prove the archive, choose every key's
write, estimate the time, and store the plan for the apply. A dry run stores nothing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.erasure import Erasure
from dynamodb_dr.cdc.timeline import LiveTimeline
from dynamodb_dr.core.errors import RepairRefused
from dynamodb_dr.core.registry import TableRegistry
from dynamodb_dr.repair import images
from dynamodb_dr.repair.coverage import CoverageEvidence, prove_coverage, read_window
from dynamodb_dr.repair.erasures import ErasedKeys, erase_undo, plan_action, undone_since
from dynamodb_dr.repair.estimate import data_loss, estimate
from dynamodb_dr.repair.models import (
    Lane,
    PlanEntry,
    PlanHeader,
    RepairRequest,
    RepairSettings,
    UndoRequest,
)
from dynamodb_dr.repair.select import WRITES, ChangeFilter, KeyChanges, classify, select
from dynamodb_dr.repair.store import RepairStore
from dynamodb_dr.repair.table import LiveTable, TableFacts

CHUNK_SIZE = 250


@dataclass
class PlanContext:
    archive: ArchiveStore
    repairs: RepairStore
    table: LiveTable
    registry: TableRegistry
    settings: RepairSettings
    evidence: Callable[[TableFacts], CoverageEvidence]
    erasures: Callable[[str], Sequence[Erasure]]  # the logical table's erasure list
    now: datetime


def plan_repair(request: RepairRequest, repair_id: str, ctx: PlanContext) -> dict[str, Any]:
    request.check_time(ctx.now)
    live = ctx.registry.resolve(request.table).live_table
    facts = ctx.table.facts(live)
    read = read_window(
        ctx.archive, request.table, request.start, request.end, max_changes=ctx.settings.repair_max_changes
    )
    _one_live_period(read.timeline, live, request.start, request.end)
    proofs = prove_coverage(
        ctx.archive,
        read,
        logical=request.table,
        live_table=live,
        start=request.start,
        end=request.end,
        now=ctx.now,
        evidence=ctx.evidence(facts),
    )
    selection = select(read.changes, request.start, request.end, ChangeFilter(request))
    affected = sorted(selection.keys.values(), key=lambda k: k.key_id)
    current = ctx.table.read(live, [images.to_client(k.keys) or {} for k in affected])
    erased = ErasedKeys(ctx.erasures(request.table))
    kept_out: set[str] = set()  # erased keys: out of the sample too (no new copy of their key)
    entries: list[PlanEntry] = []
    skipped: list[dict[str, Any]] = []
    actions: Counter[str] = Counter()
    conflicts: list[KeyChanges] = []
    for key in affected:
        item = current[key.key_id]
        classified, conflict = classify(
            key,
            item,
            overwrite_conflicts=request.conflicts == "overwrite",
            include_ttl=request.include_ttl,
            ttl_attribute=facts.ttl_attribute,
            now=ctx.now,
        )
        action = plan_action(classified, key, erased)  # "erased": delete it if live, never put back
        if action == "erased":
            kept_out.add(key.key_id)
        actions[action] += 1
        if conflict:
            conflicts.append(key)
        if action in WRITES:
            entries.append(_entry(key, item, facts, key.target))
        elif action == "erased":
            if item is not None:
                entries.append(_entry(key, item, facts, None))
        elif action != "already":
            skipped.append({"keys": key.keys, "reason": action, "conflict": conflict})
    header = _header(
        repair_id=repair_id,
        mode="repair",
        table=request.table,
        live=live,
        ctx=ctx,
        request=request.model_dump(mode="json", by_alias=True),
        entries=entries,
        facts=facts,
        share=request.max_write_share,
    )
    undone = [k for k in affected if k.key_id in {key_of(e) for e in entries}]
    summary = {
        **_common(header, request.dry_run),
        "window": {"from": _iso(request.start), "to": _iso(request.end)},
        "filters": {
            "events": list(request.events),
            "where": request.where,
            "keys": len(request.keys) if request.keys else None,
            "include_ttl": request.include_ttl,
        },
        "changes": {
            "in_window": dict(selection.changes_in_window),
            "selected": dict(selection.changes_selected),
        },
        "keys": {
            "affected": len(affected),
            "writes": len(entries),
            **{a: actions.get(a, 0) for a in (*WRITES, "already", "conflict", "expired", "erased")},
        },
        "erasures": {"listed": erased.listed, "erased": actions.get("erased", 0)},
        "conflicts": {
            "count": len(conflicts),
            "policy": request.conflicts,
            "skipped": actions.get("conflict", 0),
        },
        "archive": {
            "objects": read.objects,
            "changes_read": read.lines,
            "not_live": read.not_live,
            "erased": read.erased,  # removed by `dynamodb-dr erase`, recorded: not a gap
            "proofs": proofs,
        },
        "data_loss_window": data_loss(undone),
    }
    sample = {
        "sample_keys": [k.keys for k in affected if k.key_id not in kept_out][: request.sample_size],
        "conflict_keys": [k.keys for k in conflicts if k.key_id not in kept_out][: request.sample_size],
    }
    return _store(
        header, summary, entries=entries, skipped=skipped, sample=sample, ctx=ctx, dry_run=request.dry_run
    )


def plan_undo(request: UndoRequest, repair_id: str, ctx: PlanContext) -> dict[str, Any]:
    """The keys a repair wrote (or may have: a chunk it died in) back to their state before it,
    each only while it still holds what the repair wrote."""
    table = ctx.repairs.table_of(request.undo)
    original = ctx.repairs.header(table, request.undo)
    live = ctx.registry.resolve(table).live_table
    if live != original.live_table:
        raise RepairRefused(
            f"{table}'s live table changed since repair {request.undo} ({original.live_table} -> {live})",
            table=table,
        )
    inflight = {ctx.repairs.progress(original, lane.lane).inflight for lane in original.lanes}
    entries: list[PlanEntry] = []
    for chunk in range(original.chunks):
        outcome = ctx.repairs.outcome(original, chunk)
        if outcome is None and chunk not in inflight:
            continue  # never started: the repair wrote nothing there
        chunk_entries = ctx.repairs.entries(original, chunk)
        picked = outcome.written if outcome is not None else range(len(chunk_entries))
        for index in picked:
            done = chunk_entries[index]
            absent = (set(done.x) | set(done.g or {})) - set(done.t or {})
            entries.append(PlanEntry(k=done.k, t=done.g, g=done.t, x=tuple(sorted(absent)), u=done.u))
    erasure_list = ErasedKeys(ctx.erasures(table))
    entries, erased = erase_undo(entries, erasure_list, undone_since(original))
    facts = ctx.table.facts(live)
    request_json = request.model_dump(mode="json")
    header = _header(
        repair_id=repair_id,
        mode="undo",
        table=table,
        live=live,
        ctx=ctx,
        request=request_json,
        entries=entries,
        facts=facts,
        share=request.max_write_share,
        undo_of=request.undo,
    )
    summary = {
        **_common(header, request.dry_run),
        "undo_of": request.undo,
        "window": original.window,
        "keys": {
            "affected": len(entries),
            "writes": len(entries),
            "put-back": sum(1 for e in entries if e.t is not None),
            "delete": sum(1 for e in entries if e.t is None),
            "erased": erased,
        },
        "erasures": {"listed": erasure_list.listed, "erased": erased},
        "conflicts": {"count": 0, "policy": "skip", "skipped": 0},
    }
    sample = {"sample_keys": [e.k for e in entries[:20]], "conflict_keys": []}
    return _store(
        header, summary, entries=entries, skipped=[], sample=sample, ctx=ctx, dry_run=request.dry_run
    )


def key_of(entry: PlanEntry) -> str:
    from dynamodb_dr.cdc.model import key_id_of

    return key_id_of(entry.k)


def _entry(
    key: KeyChanges, live: dict[str, Any] | None, facts: TableFacts, target: dict[str, Any] | None
) -> PlanEntry:
    guard = images.to_wire(live)
    absent = (key.names | set(target or {})) - set(guard or {}) - set(facts.key_names)
    return PlanEntry(
        k=key.keys,
        t=target,
        g=guard,
        x=tuple(sorted(absent)),
        u=images.write_units(images.to_client(target), live),
    )


def _header(
    *,
    repair_id: str,
    mode: str,
    table: str,
    live: str,
    ctx: PlanContext,
    request: dict[str, Any],
    entries: Sequence[PlanEntry],
    facts: TableFacts,
    share: float,
    undo_of: str | None = None,
) -> PlanHeader:
    chunks = math.ceil(len(entries) / CHUNK_SIZE)
    lanes = _lanes(chunks, ctx.settings.repair_lanes)
    window = {k: v for k, v in request.items() if k in ("from", "to")}
    return PlanHeader(
        repair_id=repair_id,
        mode=mode,  # type: ignore[arg-type]
        table=table,
        live_table=live,
        created_at=ctx.now,
        request=request,
        undo_of=undo_of,
        window=window,
        entries=len(entries),
        chunk_size=CHUNK_SIZE,
        chunks=chunks,
        lanes=lanes,
        write_units=sum(e.u for e in entries),
        units_per_second=round(facts.write_capacity * share, 3),
        summary={
            "capacity": facts.write_capacity,
            "capacity_source": facts.capacity_source,
            "share": share,
            "key_names": list(facts.key_names),
        },
    )


def _lanes(chunks: int, most: int) -> tuple[Lane, ...]:
    count = max(1, min(most, chunks))
    size, extra = divmod(chunks, count)
    lanes, first = [], 0
    for lane in range(count):
        length = size + (1 if lane < extra else 0)
        lanes.append(Lane(lane=lane, first_chunk=first, chunks=length))
        first += length
    return tuple(lanes)


def _common(header: PlanHeader, dry_run: bool) -> dict[str, Any]:
    return {
        "repair_id": header.repair_id,
        "mode": header.mode,
        "table": header.table,
        "live_table": header.live_table,
        "dry_run": dry_run,
        "planned_at": _iso(header.created_at),
        "lanes": [lane.lane for lane in header.lanes] if header.entries else [],
        "estimate": {},
    }


def _store(
    header: PlanHeader,
    summary: dict[str, Any],
    *,
    entries: list[PlanEntry],
    skipped: list[dict[str, Any]],
    sample: dict[str, list[dict[str, Any]]],
    ctx: PlanContext,
    dry_run: bool,
) -> dict[str, Any]:
    """Keys (a sample) stay out of the state machine's history: they go to the bucket with the plan."""
    summary["estimate"] = estimate(header, ctx.settings)
    summary["sample"] = {
        "object": ctx.repairs.save_sample(header.table, header.repair_id, sample),
        "keys": len(sample["sample_keys"]),
        "conflict_keys": len(sample["conflict_keys"]),
    }
    if not dry_run and entries:
        chunks = [entries[i : i + header.chunk_size] for i in range(0, len(entries), header.chunk_size)]
        ctx.repairs.save_plan(
            header.model_copy(update={"summary": {**header.summary, **summary}}), chunks, skipped
        )
    summary["stored"] = not dry_run and bool(entries)
    return summary


def _one_live_period(timeline: LiveTimeline | None, live: str, start: datetime, end: datetime) -> None:
    """The window's changes must be the live table's: a window across a cutover (or before the
    live table became live) would write one table's history into another."""
    if timeline is None or not timeline.recorded:
        return
    switches = [e for e in timeline.epochs[1:] if e.since and start < e.since < end]
    if switches:
        raise RepairRefused(
            f"the window spans the cutover to {switches[0].table} at {_iso(switches[0].since)}: "
            "repair the part after it, or restore",
            table=timeline.logical,
        )
    if timeline.live_at(start) != live:
        raise RepairRefused(
            f"the window's changes were made to {timeline.live_at(start)}, not to the live table {live} "
            "(a cutover happened since): a repair writes only the table that took the changes",
            table=timeline.logical,
        )


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None
