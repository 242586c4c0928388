"""The one DynamoDB JSON converter: base64 binaries -> bytes, walked by type."""

from __future__ import annotations

import pytest

from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import InvalidInput


def test_binaries_at_every_depth_become_bytes() -> None:
    item = {
        "k": {"S": "a"},
        "b": {"B": "AAE="},
        "bs": {"BS": ["AQ==", "Ag=="]},
        "m": {"M": {"x": {"L": [{"B": "Ag=="}, {"M": {"y": {"BS": ["Aw=="]}}}]}}},
        "n": {"N": "1.5"},
        "ns": {"NS": ["1", "2"]},
        "ss": {"SS": ["a"]},
        "t": {"BOOL": True},
        "z": {"NULL": True},
    }
    assert item_from_json(item) == {
        "k": {"S": "a"},
        "b": {"B": b"\x00\x01"},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"x": {"L": [{"B": b"\x02"}, {"M": {"y": {"BS": [b"\x03"]}}}]}}},
        "n": {"N": "1.5"},
        "ns": {"NS": ["1", "2"]},
        "ss": {"SS": ["a"]},
        "t": {"BOOL": True},
        "z": {"NULL": True},
    }


@pytest.mark.parametrize("name", ["B", "BS", "SS", "M", "L", "S"])
def test_attribute_names_that_look_like_type_tags_stay_names(name: str) -> None:
    # A map attribute whose only entry is named like a type tag holds a string that happens to be
    # valid base64: it must stay a string, under its name.
    item = {
        name: {"S": "AAE="},
        "m": {"M": {name: {"S": "AAE="}}},
        "l": {"L": [{"M": {name: {"S": "QQ=="}}}]},
    }
    assert item_from_json(item) == item


def test_map_named_b_holding_a_binary_is_decoded_once() -> None:
    item = {"B": {"M": {"B": {"B": "AAE="}}}}
    assert item_from_json(item) == {"B": {"M": {"B": {"B": b"\x00\x01"}}}}


@pytest.mark.parametrize(
    "bad",
    [
        {"a": "plain"},
        {"a": {}},
        {"a": {"S": "x", "N": "1"}},
        {"a": {"X": "?"}},
        {"a": {"B": "not base64!"}},
        {"a": {"B": 3}},
        {"a": {"M": ["x"]}},
        {"a": {"L": {"S": "x"}}},
        {"a": {"M": {"b": {"Q": 1}}}},
    ],
)
def test_anything_else_is_a_named_error_without_values(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as raised:
        item_from_json(bad)
    assert "attribute a" in str(raised.value)
    assert "not base64!" not in str(raised.value)
