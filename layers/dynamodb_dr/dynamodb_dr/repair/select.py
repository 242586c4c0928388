"""Which keys a repair touches and what it writes to each (pure logic, no AWS).

The window is [from, to): a change belongs to it when it was made at or after `from` and before
`to`. AWS stamps stream records to the whole second (a change stamped s was made within
[s, s + 1 s)), so a bound strictly inside the second of a selected change cannot be decided: the
request is refused there and asks for a whole-second bound instead of guessing.

Per key, the changes in the window are taken in the order they were made (`dedupe`); the filters
select some of them. The key's target is its image just before its first selected change (the
OldImage; "absent" when that change created it, so the undo is a delete). The key is a conflict
when it was changed after the window (the live item differs from the window's last image) or when
an unselected change in the window follows the first selected one: writing the target would undo
writes nobody asked to undo. Expired items are never resurrected unless TTL deletions are included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from dynamodb_dr.cdc.model import Change, dedupe, key_id_of
from dynamodb_dr.core.errors import ArchiveCorrupt, RepairRequestInvalid
from dynamodb_dr.repair import images
from dynamodb_dr.repair.filters import parse_condition
from dynamodb_dr.repair.models import RepairRequest

SECOND = timedelta(seconds=1)
Action = Literal["put-back-modified", "put-back-deleted", "delete-created", "already", "conflict", "expired"]
WRITES = ("put-back-modified", "put-back-deleted", "delete-created")


def kind_of(change: Change) -> str:
    """INSERT, MODIFY, REMOVE, or TTL (a deletion made by DynamoDB's time to live)."""
    return "TTL" if change.event_name == "REMOVE" and change.ttl_delete else change.event_name


@dataclass
class KeyChanges:
    keys: dict[str, Any]
    key_id: str
    target: dict[str, Any] | None
    end_state: dict[str, Any] | None
    mixed: bool  # an unselected change follows the first selected one
    ttl_final: bool  # the window's last change is a TTL deletion that was not selected
    names: set[str] = field(default_factory=set)  # attribute names the key had in the window
    undone: int = 0  # changes the target undoes
    first_undone: datetime | None = None
    last_undone: datetime | None = None


@dataclass
class Selection:
    keys: dict[str, KeyChanges] = field(default_factory=dict)
    changes_in_window: Counter[str] = field(default_factory=Counter)
    changes_selected: Counter[str] = field(default_factory=Counter)


class ChangeFilter:
    """The request's filters as one predicate on a change."""

    def __init__(self, request: RepairRequest) -> None:
        self._events = set(request.events)
        self._ttl = request.include_ttl
        self._where = parse_condition(request.where) if request.where else None
        self._keys = {key_id_of(k) for k in request.keys} if request.keys else None

    def __call__(self, change: Change) -> bool:
        if change.ttl_delete and not self._ttl:
            return False
        if change.event_name not in self._events:
            return False
        if self._keys is not None and change.key_id not in self._keys:
            return False
        if self._where is not None:
            return change.new_image is not None and self._where(change.new_image)
        return True


def place(change: Change, start: datetime, end: datetime) -> Literal["before", "in", "after", "unsure"]:
    """Where a change made within [stamp, stamp + 1 s) lies against [start, end)."""
    stamp = change.approximate_creation
    if stamp + SECOND <= start or stamp >= end:
        return "before" if stamp < start else "after"
    if stamp >= start and stamp + SECOND <= end:
        return "in"
    return "unsure"


def select(
    changes: Iterable[Change], start: datetime, end: datetime, selected: Callable[[Change], bool]
) -> Selection:
    result = Selection()
    by_key: dict[str, list[Change]] = {}
    unsure: list[Change] = []
    for change in dedupe(changes):
        where = place(change, start, end)
        if where == "unsure":
            if selected(change):
                unsure.append(change)
            continue
        if where == "in":
            by_key.setdefault(change.key_id, []).append(change)
    if unsure:
        raise _ambiguous(unsure, start, end)
    for key_id, history in by_key.items():
        result.changes_in_window.update(kind_of(c) for c in history)
        picked = [index for index, change in enumerate(history) if selected(change)]
        result.changes_selected.update(kind_of(history[i]) for i in picked)
        if picked:
            result.keys[key_id] = _key_changes(key_id, history, picked)
    return result


def _key_changes(key_id: str, history: list[Change], picked: list[int]) -> KeyChanges:
    first = history[picked[0]]
    if first.event_name == "INSERT":
        target = None
    elif first.old_image is None:
        raise ArchiveCorrupt(
            f"change {first.event_id} has no OldImage (stream view is not NEW_AND_OLD_IMAGES)"
        )
    else:
        target = first.old_image
    last = history[-1]
    if last.event_name != "REMOVE" and last.new_image is None:
        raise ArchiveCorrupt(
            f"change {last.event_id} has no NewImage (stream view is not NEW_AND_OLD_IMAGES)"
        )
    undone = history[picked[0] :]
    names = {n for c in undone for image in (c.old_image, c.new_image) if image for n in image}
    return KeyChanges(
        keys=first.keys,
        key_id=key_id,
        target=target,
        end_state=None if last.event_name == "REMOVE" else last.new_image,
        mixed=len(picked) != len(undone),
        ttl_final=last.ttl_delete and picked[-1] != len(history) - 1,
        names=names,
        undone=len(undone),
        first_undone=undone[0].approximate_creation,
        last_undone=undone[-1].approximate_creation,
    )


def _ambiguous(unsure: list[Change], start: datetime, end: datetime) -> RepairRequestInvalid:
    seconds = sorted({c.approximate_creation for c in unsure})
    at_start = [s for s in seconds if s < start]
    bound, second = ("from", at_start[0]) if at_start else ("to", seconds[0])
    before, after = second, second + SECOND
    return RepairRequestInvalid(
        f"{len(unsure)} selected change(s) are stamped {second:%Y-%m-%dT%H:%M:%SZ}, the second --{bound} "
        f"falls in: stream times are whole seconds, so whether they are in the window is unknown; "
        f"use --{bound} {before:%Y-%m-%dT%H:%M:%SZ} (they are "
        f"{'in' if bound == 'from' else 'out'}) or {after:%Y-%m-%dT%H:%M:%SZ} "
        f"(they are {'out' if bound == 'from' else 'in'})"
    )


def classify(
    key: KeyChanges,
    live: Mapping[str, Any] | None,
    *,
    overwrite_conflicts: bool,
    include_ttl: bool,
    ttl_attribute: str | None,
    now: datetime,
) -> tuple[Action, bool]:
    """(what to do with the key, whether it is a conflict)."""
    conflict = key.mixed or not images.same_item(live, images.to_client(key.end_state))
    if not include_ttl and (key.ttl_final or images.expired(key.target, ttl_attribute, now)):
        return "expired", conflict
    if images.same_item(live, images.to_client(key.target)):
        return "already", conflict
    if conflict and not overwrite_conflicts:
        return "conflict", True
    if key.target is None:
        return "delete-created", conflict
    return ("put-back-deleted" if live is None else "put-back-modified"), conflict
