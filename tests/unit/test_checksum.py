"""The validation checksum: an injective canonical form over every DynamoDB type (issue 13 item 4),
continuation keys that survive JSON (item 13), and validation planning (issue 16 item 3)."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamodb_dr.core.errors import RestoreValidationFailed
from dynamodb_dr.restore import estimate as est
from dynamodb_dr.restore.checksum import (
    SegmentProgress,
    canonical_form,
    checksum_of,
    item_digest,
    key_from_json,
    key_to_json,
    scan_segment,
)

TAGS = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"]
# Attribute and map-key names that look like type tags, or like the encoding's own punctuation.
names = st.one_of(st.sampled_from([*TAGS, "", "{", '"S"', "\\", "\x00"]), st.text(max_size=8))
texts = st.one_of(st.sampled_from(["", "S", "N", '{"S":"x"}', "\\", "\x00", "é", "\U0001f600"]), st.text())
numbers = st.one_of(
    st.integers().map(str), st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)
)
binaries = st.binary(max_size=12)

scalars = st.one_of(
    texts.map(lambda v: {"S": v}),
    numbers.map(lambda v: {"N": v}),
    binaries.map(lambda v: {"B": v}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.lists(texts, min_size=1, max_size=4, unique=True).map(lambda v: {"SS": v}),
    st.lists(numbers, min_size=1, max_size=4, unique=True).map(lambda v: {"NS": v}),
    st.lists(binaries, min_size=1, max_size=4, unique=True).map(lambda v: {"BS": v}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(names, inner, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)
items = st.dictionaries(names, values, max_size=6)


def normalized(item: dict[str, Any]) -> Any:
    """An independent reference: the item's meaning, walked by type, sets as frozensets."""

    def typed(value: dict[str, Any]) -> Any:
        ((tag, inner),) = value.items()
        if tag in {"SS", "NS", "BS"}:
            return (tag, frozenset(inner))
        if tag == "M":
            return {"M": normalized(inner)}
        if tag == "L":
            return {"L": [typed(v) for v in inner]}
        return {tag: inner}

    return {name: typed(value) for name, value in item.items()}


def decoded(form: bytes) -> Any:
    """Inverts canonical_form: proof that no two different items share one canonical form."""

    def typed(value: dict[str, Any]) -> Any:
        ((tag, inner),) = value.items()
        if tag == "B":
            return {"B": inner.encode("latin-1")}
        if tag == "BS":
            return ("BS", frozenset(b.encode("latin-1") for b in inner))
        if tag in {"SS", "NS"}:
            return (tag, frozenset(inner))
        if tag == "M":
            return {"M": {k: typed(v) for k, v in inner.items()}}
        if tag == "L":
            return {"L": [typed(v) for v in inner]}
        return {tag: inner}

    return {name: typed(value) for name, value in orjson.loads(form).items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_canonical_form_is_reversible_so_the_checksum_is_injective(item: dict[str, Any]) -> None:
    assert decoded(canonical_form(item)) == normalized(item)


@settings(max_examples=300, deadline=None)
@given(items, items)
def test_two_items_share_a_digest_only_when_they_are_the_same_item(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    assert (canonical_form(a) == canonical_form(b)) == (normalized(a) == normalized(b))


@settings(max_examples=200, deadline=None)
@given(items, st.randoms(use_true_random=False))
def test_set_element_and_attribute_order_do_not_matter(item: dict[str, Any], rng: random.Random) -> None:
    def shuffled(attributes: dict[str, Any]) -> dict[str, Any]:
        keys = rng.sample(list(attributes), len(attributes))
        return {k: typed(attributes[k]) for k in keys}

    def typed(value: dict[str, Any]) -> dict[str, Any]:
        ((tag, inner),) = value.items()
        if tag in {"SS", "NS", "BS"}:
            return {tag: rng.sample(inner, len(inner))}
        if tag == "M":
            return {"M": shuffled(inner)}
        if tag == "L":
            return {"L": [typed(v) for v in inner]}
        return value

    assert item_digest(shuffled(item)) == item_digest(item)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # one-key maps named like type tags (the old canonical form took them for tags)
        ({"m": {"M": {"SS": {"SS": ["a"]}}}}, {"m": {"M": {"SS": {"SS": ["b"]}}}}),
        ({"m": {"M": {"NS": {"NS": ["1"]}}}}, {"m": {"M": {"NS": {"NS": ["2"]}}}}),
        ({"m": {"M": {"SS": {"S": "a"}}}}, {"m": {"M": {"SS": {"S": "b"}}}}),
        # a map vs the scalar it looks like, a set vs a list, a string vs a number vs a binary
        ({"a": {"M": {"S": {"S": "x"}}}}, {"a": {"S": "x"}}),
        ({"a": {"SS": ["x"]}}, {"a": {"L": [{"S": "x"}]}}),
        ({"a": {"S": "1"}}, {"a": {"N": "1"}}),
        ({"a": {"S": "x"}}, {"a": {"B": b"x"}}),
        ({"a": {"BOOL": True}}, {"a": {"NULL": True}}),
        # where the value ends and the next name begins
        ({"a": {"S": "b"}, "c": {"S": ""}}, {"a": {"S": "bc"}, "": {"S": ""}}),
        ({"a": {"L": []}}, {"a": {"M": {}}}),
        ({"a": {"L": [{"L": []}]}}, {"a": {"L": [{"L": []}, {"L": []}]}}),
        ({}, {"": {"NULL": True}}),
    ],
)
def test_look_alike_items_differ(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert item_digest(left) != item_digest(right)


def test_a_map_attribute_keyed_like_a_type_tag_checksums_without_crashing() -> None:
    """Issue 13 item 4: `{"grades": {"M": {"B": {"N": "3"}}}}` crashed the segment scan."""
    item = {"id": {"S": "1"}, "grades": {"M": {"B": {"N": "3"}, "SS": {"BS": [b"\x02", b"\x01"]}}}}
    assert item_digest(item) == item_digest(
        {"grades": {"M": {"SS": {"BS": [b"\x01", b"\x02"]}, "B": {"N": "3"}}}, "id": {"S": "1"}}
    )
    assert item_digest(item) != item_digest({**item, "grades": {"M": {"B": {"N": "4"}}}})


@pytest.mark.parametrize(
    "item",
    [
        {"a": 3},
        {"a": {}},
        {"a": {"S": "x", "N": "1"}},
        {"a": {"M": {"b": {"X": "1"}}}},
        {"a": {"L": [3]}},
        {"a": {"SS": ["x", 1]}},
        {"a": {"BS": ["zz-secret"]}},
        {"a": {"S": object()}},
        [("a", {"S": "x"})],
    ],
)
def test_a_malformed_item_is_a_named_error_that_does_not_echo_values(item: Any) -> None:
    with pytest.raises(RestoreValidationFailed) as caught:
        item_digest(item)
    assert "zz-secret" not in str(caught.value) and "object at" not in str(caught.value)


def test_checksum_sums_item_digests_in_any_order() -> None:
    rows = [{"id": {"S": str(i)}, "tags": {"SS": ["b", "a"]}, "raw": {"B": bytes([i])}} for i in range(30)]
    assert checksum_of(rows) == checksum_of(list(reversed(rows)))
    assert checksum_of(rows) != checksum_of(rows[:-1])
    assert checksum_of([]) == "0" * 32


# ------------------------------------------------------------------ continuation keys as JSON

binary_keys = st.dictionaries(
    st.sampled_from(["pk", "sk"]),
    st.one_of(
        binaries.map(lambda v: {"B": v}), texts.map(lambda v: {"S": v}), numbers.map(lambda v: {"N": v})
    ),
    min_size=1,
)


@given(binary_keys)
def test_continuation_keys_survive_json_and_come_back_as_bytes(key: dict[str, Any]) -> None:
    through_step_functions = json.loads(json.dumps(key_to_json(key)))
    assert key_from_json(through_step_functions) == key


@pytest.mark.parametrize(
    "bad",
    [{}, [], "x", {"pk": {"B": "not base64!"}}, {"pk": {"X": "1"}}, {"pk": "1"}, {"pk": {"S": 1}}],
)
def test_a_malformed_continuation_key_is_a_named_error(bad: Any) -> None:
    with pytest.raises(RestoreValidationFailed):
        key_from_json(bad)


class _BinaryKeyedScan:
    """Scan of a table keyed by B: LastEvaluatedKey holds bytes, as botocore returns it."""

    def __init__(self, pages: int) -> None:
        self.pages = [
            [{"pk": {"B": bytes([p, i])}, "v": {"N": str(i)}} for i in range(3)] for p in range(pages)
        ]
        self.starts: list[Any] = []

    def scan(self, **request: Any) -> dict[str, Any]:
        start = request.get("ExclusiveStartKey")
        self.starts.append(start)
        index = 0 if start is None else start["pk"]["B"][0] + 1
        page: dict[str, Any] = {"Items": self.pages[index]}
        if index + 1 < len(self.pages):
            page["LastEvaluatedKey"] = {"pk": self.pages[index][-1]["pk"]}
        return page


def test_a_binary_keyed_segment_continues_through_json() -> None:
    client = _BinaryKeyedScan(pages=3)
    progress = SegmentProgress()
    rounds = 0
    while not progress.done:
        result = scan_segment(client, "t", 0, 1, progress=progress, remaining_ms=lambda: 0)  # type: ignore[arg-type]
        payload = json.loads(json.dumps(result.as_dict()))  # Lambda's response, then the state
        progress = SegmentProgress(**payload)
        rounds += 1
    assert rounds == 3
    assert all(isinstance(s["pk"]["B"], bytes) for s in client.starts[1:])
    assert progress.count == 9
    assert progress.checksum == checksum_of([i for page in client.pages for i in page])
    assert key_to_json({"pk": {"B": b"\xff"}}) == {"pk": {"B": base64.b64encode(b"\xff").decode()}}


# ------------------------------------------------------------------ validation planning


def describe(size: int, items: int = 0, billing: str = "PAY_PER_REQUEST", rcu: int = 0) -> dict[str, Any]:
    return {
        "TableSizeBytes": size,
        "ItemCount": items,
        "BillingModeSummary": {"BillingMode": billing},
        "ProvisionedThroughput": {"ReadCapacityUnits": rcu},
    }


def test_segments_grow_with_the_table_up_to_the_map_concurrency() -> None:
    assert est.segments_for(0) == 1
    assert est.segments_for(est.SEGMENT_TARGET_BYTES) == 1
    assert est.segments_for(est.SEGMENT_TARGET_BYTES + 1) == 2
    assert est.segments_for(10**12) == est.MAP_CONCURRENCY


def test_the_map_concurrency_constant_is_the_asl_value() -> None:
    from dynamodb_dr_local import PROJECT_ROOT

    asl = json.loads((PROJECT_ROOT / "statemachines" / "restore.asl.json").read_text())
    assert asl["States"]["ScanSegments"]["MaxConcurrency"] == est.MAP_CONCURRENCY


def test_a_small_table_fits_and_a_huge_one_is_flagged_before_starting() -> None:
    small = est.estimate(
        {"t": describe(50_000_000, 50_000)}, requested_segments=None, max_segments=400, rto_minutes=60
    )
    assert small.fits and small.warning is None and small.segments_of("t") == 1
    huge = est.estimate(
        {"t": describe(100_000_000 * 1024, 100_000_000)},
        requested_segments=None,
        max_segments=400,
        rto_minutes=15,
    )
    assert (
        not huge.fits and "100,000,000 items" in (huge.warning or "") and "every item" in (huge.warning or "")
    )
    assert huge.segments_of("t") == est.MAP_CONCURRENCY
    floor = 100_000_000 * 1024 / (12_000 * 8 * 1024)
    assert floor <= huge.seconds <= 1.25 * floor  # table-bound, not bound by our segments


def test_a_provisioned_source_restores_at_its_read_capacity() -> None:
    assert est.read_floor(describe(1, billing="PROVISIONED", rcu=100)) == 100 * 8 * 1024
    assert est.read_floor(describe(1)) == 12_000 * 8 * 1024


def test_explicit_segments_win_and_many_tables_share_the_state_limit() -> None:
    sources = {f"t{i}": describe(10**12) for i in range(25)}
    plan = est.estimate(sources, requested_segments=None, max_segments=400, rto_minutes=60)
    assert sum(t.segments for t in plan.tables) <= 400
    assert (
        est.estimate(
            {"t": describe(10**12)}, requested_segments=3, max_segments=400, rto_minutes=60
        ).segments_of("t")
        == 3
    )
