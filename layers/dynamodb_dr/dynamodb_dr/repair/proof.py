"""Prove a repair: every key it wrote (or found already repaired) now equals its planned image,
the image from the archive; and the repair's own writes are in the archive (so it can be undone
by repairing their window).

A key that differs is explained only by the archive: a change made to it after the repair's write
(an application writing again, which the repair must not undo). A difference nothing explains is
`unexplained`: the archive may not have caught up yet, so the state machine asks again a few
times before it fails the repair. A repair write whose archived OldImage is not the plan's guard
overwrote something the plan never saw (possible only for an attribute added between the read
before the write and the write): it is reported and fails the proof.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore, read_changes
from dynamodb_dr.cdc.model import Change, dedupe, key_id_of
from dynamodb_dr.repair import images
from dynamodb_dr.repair.models import PlanEntry, PlanHeader
from dynamodb_dr.repair.store import RepairStore
from dynamodb_dr.repair.table import LiveTable

SECOND = timedelta(seconds=1)


def repaired_entries(header: PlanHeader, store: RepairStore) -> Iterator[tuple[PlanEntry, str]]:
    """(entry, "written" | "already") for every key the apply left at its target."""
    for chunk in range(header.chunks):
        outcome = store.outcome(header, chunk)
        if outcome is None:
            continue
        entries = store.entries(header, chunk)
        yield from ((entries[i], "written") for i in outcome.written)
        yield from ((entries[i], "already") for i in outcome.already)


def prove(
    header: PlanHeader,
    store: RepairStore,
    reader: LiveTable,
    archive: ArchiveStore,
    *,
    first_write: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    repaired = list(repaired_entries(header, store))
    current = reader.read(header.live_table, [images.to_client(e.k) or {} for e, _ in repaired])
    differ = [
        (e, how)
        for e, how in repaired
        if not images.same_item(current[key_id_of(e.k)], images.to_client(e.t))
    ]
    written = [e for e, how in repaired if how == "written"]
    history = _history(
        archive,
        header,
        {key_id_of(e.k) for e in written} | {key_id_of(e.k) for e, _ in differ},
        first_write,
        now,
    )
    ours = {key_id_of(e.k): _our_change(e, history.get(key_id_of(e.k), [])) for e in written}
    changed_since, unexplained = 0, 0
    for entry, _ in differ:
        key = key_id_of(entry.k)
        mine = ours.get(key)
        later = history.get(key, [])
        if mine is not None and later.index(mine) < len(later) - 1:
            changed_since += 1
        elif mine is None and later:
            changed_since += 1  # found at its target by the apply, changed since (archived)
        else:
            unexplained += 1
    overwrote = 0
    for entry in written:
        mine = ours[key_id_of(entry.k)]
        if mine is not None and not _old_is_guard(mine, entry):
            overwrote += 1
    return {
        "checked": len(repaired),
        "proven": len(repaired) - len(differ),
        "changed_since_repair": changed_since,
        "unexplained": unexplained,
        "writes": len(written),
        "writes_archived": sum(1 for c in ours.values() if c is not None),
        "overwrote_unplanned": overwrote,
    }


def _history(
    archive: ArchiveStore, header: PlanHeader, keys: set[str], first_write: datetime | None, now: datetime
) -> dict[str, list[Change]]:
    """The archived changes of these keys since the repair started writing, in order."""
    if not keys or first_write is None:
        return {}
    found: dict[str, list[Change]] = {}
    start = first_write - SECOND
    for change in dedupe(
        c for c in read_changes(archive, header.table, start, now + SECOND) if c.key_id in keys
    ):
        found.setdefault(change.key_id, []).append(change)
    return found


def _our_change(entry: PlanEntry, history: list[Change]) -> Change | None:
    """The archived change the repair's write made: the key's first change to the target."""
    target = images.to_client(entry.t)
    for change in history:
        made = None if change.event_name == "REMOVE" else images.to_client(change.new_image)
        if images.same_item(made, target) and not images.same_item(
            images.to_client(change.old_image), target
        ):
            return change
    return None


def _old_is_guard(change: Change, entry: PlanEntry) -> bool:
    return images.same_item(images.to_client(change.old_image), images.to_client(entry.g))
