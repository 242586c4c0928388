"""Issue 14 item 7: `--key` keeps numbers numbers; keys compare by value, as DynamoDB does."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest
from test_cdc_timeline import ORIGINAL, T0, MemoryArchive, change

from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.cdc.replay import item_history
from dynamodb_dr_local.commands.cdc_common import parse_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"order_no": 0.5}', {"order_no": {"N": "0.5"}}),
        ('{"order_no": 12345678901234567890.125}', {"order_no": {"N": "12345678901234567890.125"}}),
        ('{"order_no": 7, "id": "a"}', {"order_no": {"N": "7"}, "id": {"S": "a"}}),
        ('{"order_no": "0.5"}', {"order_no": {"S": "0.5"}}),
        ('{"order_no": {"N": "0.5"}}', {"order_no": {"N": "0.5"}}),
    ],
)
def test_key_values_keep_their_type(text: str, expected: dict[str, object]) -> None:
    assert parse_key(text) == expected


@pytest.mark.parametrize("text", ['{"id": true}', '{"id": null}', '{"id": [1]}', "[1]", "{}", "nope"])
def test_a_key_that_cannot_be_a_key_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_key(text)


def test_numeric_keys_compare_by_value() -> None:
    assert key_id_of({"n": {"N": "0.50"}}) == key_id_of({"n": {"N": "0.5"}}) == key_id_of({"n": {"N": ".5"}})
    assert key_id_of({"n": {"N": "100"}}) == key_id_of({"n": {"N": "1E+2"}})
    assert key_id_of({"n": {"N": "0"}}) == key_id_of({"n": {"N": "-0.0"}})
    assert key_id_of({"n": {"N": "0.5"}}) != key_id_of({"n": {"S": "0.5"}})
    assert key_id_of({"n": {"N": "0.5"}}) != key_id_of({"n": {"N": "0.05"}})


def test_item_history_finds_a_decimal_key_given_on_the_command_line() -> None:
    store = MemoryArchive()
    archived = change(ORIGINAL, 1, T0, 1, key="x").model_copy(update={"keys": {"order_no": {"N": "0.5"}}})
    store.add([archived])
    found = item_history(store, "customers", parse_key('{"order_no": 0.50}'), T0, T0 + timedelta(minutes=1))
    assert [c.event_id for c in found] == [archived.event_id]
