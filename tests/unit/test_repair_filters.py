"""Repair filters: the condition language on new images, and keys given as JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dynamodb_dr.core.errors import RepairRequestInvalid
from dynamodb_dr.repair.filters import key_from_json, parse_condition

IMAGE: dict[str, Any] = {
    "customer_id": {"S": "c1"},
    "deploy_version": {"S": "v42"},
    "email": {"S": "null@invalid"},
    "balance": {"N": "-12.50"},
    "active": {"BOOL": True},
    "note": {"NULL": True},
    "tags": {"SS": ["beta", "vip"]},
    "scores": {"NS": ["1", "2.5"]},
    "address": {"M": {"zip": {"S": "10115"}, "lines": {"L": [{"S": "Main St 1"}, {"N": "3"}]}}},
    "odd name": {"S": "yes"},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('deploy_version = "v42"', True),
        ("deploy_version = 'v42'", True),
        ('deploy_version <> "v42"', False),
        ('deploy_version != "v41"', True),
        ('deploy_version IN ("v41", "v42")', True),
        ('deploy_version IN ("v41")', False),
        ("balance < 0", True),
        ("balance = -12.5", True),  # numbers by value
        ("balance BETWEEN -20 AND -10", True),
        ('balance = "-12.50"', False),  # a string never equals a number
        ('balance <> "x"', True),
        ("active = true AND NOT note <> null", True),
        ("missing = 1", False),  # a missing attribute matches no comparison
        ("missing <> 1", False),
        ("attribute_not_exists(missing) AND attribute_exists(tags)", True),
        ('begins_with(email, "null@")', True),
        ('contains(tags, "vip") AND contains(scores, 2.5)', True),
        ('contains(email, "invalid")', True),
        ('address.zip = "10115" AND address.lines[1] = 3', True),
        ('address.lines[5] = 3 OR address.nope.deeper = "x"', False),
        ('`odd name` = "yes"', True),
        ('(deploy_version = "v41" OR deploy_version = "v42") AND balance < 0', True),
        ('NOT (deploy_version = "v42")', False),
        ('email > "a" AND email < "z"', True),
        ("active > 0", False),  # < and > compare strings and numbers only
        ('deploy_version = "v42" and balance < 0', True),  # keywords are case-insensitive
    ],
)
def test_conditions_follow_dynamodb_semantics(condition: str, expected: bool) -> None:
    assert parse_condition(condition)(IMAGE) is expected


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("", "empty condition"),
        ("deploy_version = ", "expected a value at the end"),
        ("deploy_version == 1", "character 17"),
        ('deploy_version = "v42" extra', "unexpected text after the condition"),
        ("(a = 1", "expected )"),
        ("a = 1 AND", "expected an attribute name"),
        ("a = v42", "expected a value"),
        ("a.b[x] = 1", "expected number"),
        ('a = "bad \\q escape"', "bad escape"),
        ("a ~ 1", "unexpected character"),
        ("attribute_exists(a, b)", "expected )"),
        ("AND = 1", "expected an attribute name"),
    ],
)
def test_a_filter_that_does_not_parse_is_one_named_line(condition: str, problem: str) -> None:
    with pytest.raises(RepairRequestInvalid) as raised:
        parse_condition(condition)
    message = str(raised.value)
    assert problem in message and "\n" not in message


def test_a_condition_never_reads_past_what_the_image_has() -> None:
    predicate = parse_condition("a.b.c = 1 OR l[0].x = 1 OR contains(l, 1)")
    assert predicate({"a": {"S": "not a map"}, "l": {"M": {}}}) is False
    assert predicate({}) is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"id": "a"}, {"id": {"S": "a"}}),
        ({"id": 7, "sk": "x"}, {"id": {"N": "7"}, "sk": {"S": "x"}}),
        ({"id": Decimal("0.50")}, {"id": {"N": "0.50"}}),
        ({"id": {"S": "a"}}, {"id": {"S": "a"}}),
        ({"id": {"N": 5}}, {"id": {"N": "5"}}),
        ({"id": {"B": "AAE="}}, {"id": {"B": "AAE="}}),
    ],
)
def test_keys_in_dynamodb_json_or_plain_json(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert key_from_json(given) == expected


@pytest.mark.parametrize(
    "given", [[1], {}, {"a": 1, "b": 2, "c": 3}, {"id": True}, {"id": None}, {"id": {"M": {}}}, {"id": [1]}]
)
def test_bad_keys_are_refused(given: Any) -> None:
    with pytest.raises(RepairRequestInvalid):
        key_from_json(given)
