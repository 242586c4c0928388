"""Which keys a repair touches and what it writes: window bounds at whole-second stream times,
targets, conflicts, TTL deletions, request validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamodb_dr.cdc.model import Change
from dynamodb_dr.core.errors import RepairRequestInvalid
from dynamodb_dr.repair.models import RepairRequest, parse_request
from dynamodb_dr.repair.select import ChangeFilter, classify, place, select

T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)
SEQ = iter(range(1000, 10**6))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(
    key: str,
    event: str,
    second: int,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    *,
    ttl: bool = False,
) -> Change:
    return Change(
        table="customers",
        sourceTable="customers",
        streamLabel="2026-11-30T00:00:00.000",
        eventID=f"e{next(SEQ)}",
        eventName=event,
        SequenceNumber=str(next(SEQ)),
        ApproximateCreationDateTime=at(second),
        Keys={"id": {"S": key}},
        NewImage=new,
        OldImage=old,
        ttlDelete=ttl,
    )


def item(key: str, **fields: str) -> dict[str, Any]:
    return {"id": {"S": key}, **{k: {"S": v} for k, v in fields.items()}}


def request(**extra: Any) -> RepairRequest:
    return RepairRequest.model_validate({"table": "customers", "from": at(10), "to": at(20), **extra})


def test_a_change_belongs_to_the_window_by_its_whole_second() -> None:
    start, end = at(10), at(20)
    assert place(change("a", "MODIFY", 9, {}, {}), start, end) == "before"
    assert place(change("a", "MODIFY", 10, {}, {}), start, end) == "in"
    assert place(change("a", "MODIFY", 19, {}, {}), start, end) == "in"
    assert place(change("a", "MODIFY", 20, {}, {}), start, end) == "after"  # made in [20, 21): after
    inside = at(10.5)
    assert place(change("a", "MODIFY", 10, {}, {}), inside, end) == "unsure"
    assert place(change("a", "MODIFY", 9, {}, {}), inside, end) == "before"
    assert place(change("a", "MODIFY", 19, {}, {}), start, at(19.5)) == "unsure"


def test_each_key_goes_back_to_its_image_before_its_first_change_in_the_window() -> None:
    changes = [
        change("upd", "MODIFY", 5, item("upd", v="0"), item("upd", v="good")),  # before: kept
        change("upd", "MODIFY", 11, item("upd", v="good"), item("upd", v="bad1")),
        change("upd", "MODIFY", 12, item("upd", v="bad1"), item("upd", v="bad2")),
        change("del", "REMOVE", 13, item("del", v="good"), None),
        change("new", "INSERT", 14, None, item("new", v="junk")),
        change("new", "MODIFY", 15, item("new", v="junk"), item("new", v="junk2")),
        change("late", "MODIFY", 25, item("late", v="x"), item("late", v="y")),  # after: untouched
    ]
    selection = select(changes, at(10), at(20), ChangeFilter(request()))
    keys = selection.keys
    assert sorted(keys) == sorted(['{"id":{"S":"upd"}}', '{"id":{"S":"del"}}', '{"id":{"S":"new"}}'])
    upd, deleted, created = keys['{"id":{"S":"upd"}}'], keys['{"id":{"S":"del"}}'], keys['{"id":{"S":"new"}}']
    assert upd.target == item("upd", v="good") and upd.end_state == item("upd", v="bad2") and upd.undone == 2
    assert deleted.target == item("del", v="good") and deleted.end_state is None
    assert created.target is None and created.end_state == item("new", v="junk2")
    assert dict(selection.changes_in_window) == {"MODIFY": 3, "REMOVE": 1, "INSERT": 1}


def test_a_selected_change_in_the_bounding_second_is_refused_with_whole_seconds() -> None:
    changes = [change("a", "MODIFY", 10, item("a"), item("a", v="bad"))]
    with pytest.raises(RepairRequestInvalid, match=r"--from 2026-11-30T10:00:10Z .* or 2026-11-30T10:00:11Z"):
        select(changes, at(10.5), at(20), ChangeFilter(request()))
    # Not selected by the filters: the ambiguity does not matter.
    select(changes, at(10.5), at(20), ChangeFilter(request(events=["REMOVE"])))


def test_filters_and_the_conflicts_they_create() -> None:
    changes = [
        change("a", "MODIFY", 11, item("a", v="good"), item("a", v="bad", deploy="v42")),
        change("a", "MODIFY", 12, item("a", v="bad", deploy="v42"), item("a", v="user", deploy="v41")),
        change("b", "MODIFY", 13, item("b", v="good"), item("b", v="bad", deploy="v42")),
    ]
    selection = select(changes, at(10), at(20), ChangeFilter(request(where='deploy = "v42"')))
    a, b = selection.keys['{"id":{"S":"a"}}'], selection.keys['{"id":{"S":"b"}}']
    assert a.mixed and not b.mixed  # a's later, unselected change would be undone too
    assert classify(
        a, a.end_state, overwrite_conflicts=False, include_ttl=False, ttl_attribute=None, now=at(30)
    ) == ("conflict", True)
    assert classify(
        a, a.end_state, overwrite_conflicts=True, include_ttl=False, ttl_attribute=None, now=at(30)
    ) == ("put-back-modified", True)
    assert classify(
        b, b.end_state, overwrite_conflicts=False, include_ttl=False, ttl_attribute=None, now=at(30)
    ) == ("put-back-modified", False)
    later = item("b", v="fixed by support")
    assert classify(
        b, later, overwrite_conflicts=False, include_ttl=False, ttl_attribute=None, now=at(30)
    ) == ("conflict", True)
    assert classify(b, None, overwrite_conflicts=True, include_ttl=False, ttl_attribute=None, now=at(30)) == (
        "put-back-deleted",
        True,
    )
    assert (
        classify(
            b,
            item("b", v="good"),
            overwrite_conflicts=False,
            include_ttl=False,
            ttl_attribute=None,
            now=at(30),
        )[0]
        == "already"
    )
    by_key = select(changes, at(10), at(20), ChangeFilter(request(keys=[{"id": "b"}])))
    assert list(by_key.keys) == ['{"id":{"S":"b"}}']


def test_ttl_deletions_are_told_apart_and_never_undone_unless_asked() -> None:
    changes = [
        change("t", "MODIFY", 11, item("t", v="good"), item("t", v="bad")),
        change("t", "REMOVE", 12, item("t", v="bad"), None, ttl=True),
        change("u", "REMOVE", 13, item("u", v="good"), None, ttl=True),
    ]
    selection = select(changes, at(10), at(20), ChangeFilter(request()))
    assert dict(selection.changes_in_window) == {"MODIFY": 1, "TTL": 2}
    assert dict(selection.changes_selected) == {"MODIFY": 1}
    [t] = selection.keys.values()
    assert t.ttl_final  # expired after the bad change: never resurrected
    assert (
        classify(t, None, overwrite_conflicts=True, include_ttl=False, ttl_attribute=None, now=at(30))[0]
        == "expired"
    )
    asked = select(changes, at(10), at(20), ChangeFilter(request(include_ttl=True)))
    assert len(asked.keys) == 2


def test_an_image_whose_ttl_has_passed_is_not_written_back() -> None:
    expired = {**item("x"), "expires": {"N": str(int(at(0).timestamp()))}}
    changes = [change("x", "REMOVE", 11, expired, None)]
    [x] = select(changes, at(10), at(20), ChangeFilter(request())).keys.values()
    assert (
        classify(x, None, overwrite_conflicts=False, include_ttl=False, ttl_attribute="expires", now=at(30))[
            0
        ]
        == "expired"
    )
    assert (
        classify(x, None, overwrite_conflicts=False, include_ttl=True, ttl_attribute="expires", now=at(30))[0]
        == "put-back-deleted"
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"table": "customers", "from": "2026-11-30T10:00:20Z", "to": "2026-11-30T10:00:10Z"},
            "is before from",
        ),
        ({"table": "customers", "from": "2026-11-30T10:00:20Z", "to": "2026-11-30T10:00:20Z"}, "empty"),
        ({"table": "customers", "from": "2026-11-30T10:00:20", "to": "2026-11-30T10:00:30Z"}, "timezone"),
        (
            {"table": "x", "from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:30Z"},
            "invalid logical table",
        ),
        (
            {
                "table": "customers",
                "from": "2026-11-30T10:00:00Z",
                "to": "2026-11-30T10:00:30Z",
                "events": [],
            },
            "at least one",
        ),
        (
            {"table": "customers", "from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:30Z", "colour": 1},
            "colour",
        ),
        (
            {"table": "customers", "from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:30Z", "keys": []},
            "non-empty",
        ),
        ({"resume": "bad id!"}, "resume"),
        ({"undo": "r1", "table": "customers"}, "table"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_requests_are_one_named_line(raw: Any, problem: str) -> None:
    with pytest.raises(RepairRequestInvalid) as raised:
        parse_request(raw)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_window_in_the_future_is_refused() -> None:
    req = request()
    req.check_time(at(25))
    with pytest.raises(RepairRequestInvalid, match="in the future"):
        req.check_time(at(10))


def test_every_sample_input_in_events_is_a_valid_request() -> None:
    from dynamodb_dr_local import PROJECT_ROOT

    samples = sorted((PROJECT_ROOT / "events").glob("repair-*.json"))
    assert len(samples) >= 4
    kinds = {type(parse_request(json.loads(p.read_text()))).__name__ for p in samples}
    assert kinds == {"RepairRequest", "ResumeRequest", "UndoRequest"}
