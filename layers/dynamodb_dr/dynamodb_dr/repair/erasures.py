"""The erasure list in a repair's plan (cdc/erasure.py): a repair never writes an erased key back.

A repair writes each key's image from just before its first undone change. When the key was erased
at or after that change's time (its whole-second stamp: an erasure within that second counts as
after), the image predates the erasure and is not written. Instead the plan deletes the key when the
live table holds it, guarded like every repair write (only while the item is what the plan read),
so the proof checks it and an undo can put back exactly what was live. Deleting rather than leaving
it to the erase: `dynamodb-dr erase` never touches the live table, and nothing applies the list
after a repair, so a skipped key would keep the window's (pre-erasure) item. An undo puts back no
item of a key erased at or after the repaired window's start (what it would put back is the
window's item or older): it deletes the key while it holds what the repair wrote, or leaves it
absent; the repair's backup still holds the item for an operator who decides otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dynamodb_dr.cdc.erasure import Erasure, erased_before
from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.repair.models import PlanEntry, PlanHeader
from dynamodb_dr.repair.select import KeyChanges

# Actions that would keep or write the key's pre-window image: an erased key's image never is.
KEEPS_IMAGE = ("put-back-modified", "put-back-deleted", "already")


class ErasedKeys:
    """key id -> the latest time it was erased; asks whether an image of a time predates it."""

    def __init__(self, erasures: Sequence[Erasure]) -> None:
        self.listed = len(erasures)
        self._latest = erased_before(erasures)

    def __bool__(self) -> bool:
        return bool(self._latest)

    def predates(self, key_id: str, image_time: datetime | None) -> bool:
        """The key was erased at or after `image_time`, the time its image reflects."""
        erased_at = self._latest.get(key_id)
        return erased_at is not None and image_time is not None and erased_at >= image_time


def plan_action(action: str, key: KeyChanges, erased: ErasedKeys) -> str:
    """`erased` (delete the key if live, never write its image) when the image it would keep or
    write predates its erasure; otherwise `action` as classified."""
    if action in KEEPS_IMAGE and key.target is not None and erased.predates(key.key_id, key.first_undone):
        return "erased"
    return action


def erase_undo(entries: list[PlanEntry], erased: ErasedKeys, since: datetime) -> tuple[list[PlanEntry], int]:
    """The undo's entries without a put-back of any key erased at or after `since` (a delete
    while it holds what the repair wrote instead); and how many keys that changed."""
    if not erased:
        return entries, 0
    kept, count = [], 0
    for entry in entries:
        if entry.t is not None and erased.predates(key_id_of(entry.k), since):
            count += 1
            if entry.g is not None:
                kept.append(entry.model_copy(update={"t": None}))
        else:
            kept.append(entry)
    return kept, count


def undone_since(original: PlanHeader) -> datetime:
    """The earliest time the items an undo puts back can reflect: the repaired window's start."""
    start = original.window.get("from")
    return datetime.fromisoformat(start.replace("Z", "+00:00")) if start else original.created_at
