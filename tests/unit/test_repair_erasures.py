"""A repair's plan honours the erasure list: an image older than a key's erasure is never written
back (the key is deleted if live instead), and an undo puts back no erased key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from test_repair_select import at, change, item, request

from dynamodb_dr.cdc.erasure import Erasure
from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.repair.erasures import ErasedKeys, erase_undo, plan_action, undone_since
from dynamodb_dr.repair.models import PlanEntry, PlanHeader
from dynamodb_dr.repair.select import ChangeFilter, KeyChanges, classify, select


def erased(key: str, when: datetime) -> Erasure:
    return Erasure(table="customers", key={"id": {"S": key}}, erased_at=when)


def keys() -> dict[str, KeyChanges]:
    changes = [
        change("upd", "MODIFY", 12, item("upd", v="good"), item("upd", v="bad")),
        change("del", "REMOVE", 13, item("del", v="good"), None),
        change("new", "INSERT", 14, None, item("new", v="junk")),
        change("same", "MODIFY", 15, item("same", v="good"), item("same", v="bad")),
        change("same", "MODIFY", 16, item("same", v="bad"), item("same", v="good")),
        change("late", "MODIFY", 17, item("late", v="good"), item("late", v="bad")),
    ]
    return select(changes, at(10), at(20), ChangeFilter(request())).keys


def actions(erasures: list[Erasure], live: dict[str, Any] | None = None) -> dict[str, str]:
    found = keys()
    table = {
        "upd": item("upd", v="bad"),
        "del": None,
        "new": item("new", v="junk"),
        "same": item("same", v="good"),
        "late": item("late", v="fixed"),  # changed after the window: a conflict, left alone
        **(live or {}),
    }
    listed = ErasedKeys(erasures)
    out = {}
    for key in found.values():
        name = key.keys["id"]["S"]
        action, _ = classify(
            key, table[name], overwrite_conflicts=False, include_ttl=False, ttl_attribute=None, now=at(30)
        )
        out[name] = plan_action(action, key, listed)
    return out


def test_without_erasures_every_action_is_the_classified_one() -> None:
    assert actions([]) == {
        "upd": "put-back-modified",
        "del": "put-back-deleted",
        "new": "delete-created",
        "same": "already",
        "late": "conflict",
    }


def test_a_key_erased_at_or_after_its_images_time_is_never_written_back() -> None:
    erasures = [
        erased("upd", at(12)),  # the second of its first undone change: counts as after
        erased("del", at(40)),  # after the window too: the image predates it
        erased("new", at(14.5)),  # the repair deletes it anyway: left as delete-created
        erased("same", at(15.5)),  # the live item is the (pre-erasure) image: deleted, not kept
        erased("late", at(18)),  # a conflict the repair does not touch: stays a conflict
    ]
    assert actions(erasures) == {
        "upd": "erased",
        "del": "erased",
        "new": "delete-created",
        "same": "erased",
        "late": "conflict",
    }


def test_a_key_erased_before_its_image_was_made_is_repaired_as_usual() -> None:
    # Erased before the window, then back (a new item): its image is newer than the erasure.
    erasures = [erased("upd", at(11)), erased("del", at(5))]
    assert actions(erasures)["upd"] == "put-back-modified"
    assert actions(erasures)["del"] == "put-back-deleted"


def test_the_latest_erasure_of_a_key_counts_and_other_keys_are_not_affected() -> None:
    listed = ErasedKeys([erased("upd", at(5)), erased("upd", at(13)), erased("other", at(50))])
    upd, other = key_id_of({"id": {"S": "upd"}}), key_id_of({"id": {"S": "nobody"}})
    assert listed.listed == 3 and listed
    assert listed.predates(upd, at(12)) and listed.predates(upd, at(13))
    assert not listed.predates(upd, at(13.5)) and not listed.predates(other, at(0))
    assert not listed.predates(upd, None) and not ErasedKeys([])


def test_an_undo_puts_back_no_key_erased_since_the_window_began() -> None:
    window_start = at(10)
    header = PlanHeader(
        repair_id="r1",
        mode="repair",
        table="customers",
        live_table="customers",
        created_at=at(60),
        request={},
        window={"from": "2026-11-30T10:00:10Z", "to": "2026-11-30T10:00:20Z"},
    )
    assert undone_since(header) == window_start
    assert undone_since(header.model_copy(update={"window": {}})) == at(60)
    entries = [
        # put back the modified item (the repair wrote "good"): erased since -> delete while "good"
        PlanEntry(k={"id": {"S": "a"}}, t=item("a", v="bad"), g=item("a", v="good")),
        # put back the item the repair deleted: erased since -> left absent (nothing to write)
        PlanEntry(k={"id": {"S": "b"}}, t=item("b", v="bad"), g=None),
        # the undo deletes what the repair put back: a delete keeps it erased, unchanged
        PlanEntry(k={"id": {"S": "c"}}, t=None, g=item("c", v="good")),
        # erased before the window: unchanged
        PlanEntry(k={"id": {"S": "d"}}, t=item("d", v="bad"), g=item("d", v="good")),
    ]
    listed = ErasedKeys([erased("a", at(15)), erased("b", at(70)), erased("c", at(15)), erased("d", at(9))])
    kept, count = erase_undo(entries, listed, window_start)
    assert count == 2
    assert [(e.k["id"]["S"], e.t, e.g) for e in kept] == [
        ("a", None, item("a", v="good")),
        ("c", None, item("c", v="good")),
        ("d", item("d", v="bad"), item("d", v="good")),
    ]
    assert erase_undo(entries, ErasedKeys([]), window_start) == (entries, 0)
