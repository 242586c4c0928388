"""The CDC archiver after `dynamodb-dr erase`: later batches archive as before, and a batch Lambda
delivers again (a retry after a lost response or a function error, whole or bisected) never puts
an erased change back into the archive. The real archiver function, invoked like Lambda does."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from cdc_support import Cdc

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration
MODES = pytest.mark.parametrize("keep_history", [False, True], ids=["purged", "kept"])
VICTIM = "cv"


@pytest.fixture
def cdc(emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Cdc:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    return Cdc(emulator, stack, stack.outputs["ArchiveBucketName"], reader)


def erase(key: str, *, keep_history: bool) -> None:
    args = ["erase", "--table", "customers", "--key", json.dumps({"customer_id": key}), "--json"]
    assert main([*args, *(["--keep-history"] if keep_history else [])]) == 0


def put(cdc: Cdc, key: str, **fields: Any) -> None:
    table = cdc.emulator.clients.session_resource("dynamodb").Table("customers")
    table.put_item(Item={"customer_id": key, "email": f"{key}@example.com", **fields})


def delivered(cdc: Cdc, records: list[dict[str, Any]]) -> None:
    payload, errored = cdc.invoke(records)
    assert not errored and payload["batchItemFailures"] == [], payload


def lines(cdc: Cdc) -> Counter[tuple[str, str]]:
    """(key, sequence number) of every line the archive holds now, counted."""
    return Counter((c.keys["customer_id"]["S"], c.sequence_number) for _, c in cdc.archived())


@MODES
def test_a_batch_delivered_again_never_brings_erased_changes_back(cdc: Cdc, keep_history: bool) -> None:
    """The first batch's object starts with the victim's change (purged: rewritten without it); the
    second object holds only the victim's delete (purged: left empty). Lambda delivers both again."""
    put(cdc, VICTIM)
    put(cdc, "a")
    put(cdc, VICTIM, tier="pro")
    put(cdc, "b")
    first = cdc.reader.read()
    cdc.emulator.clients.client("dynamodb").delete_item(
        TableName="customers", Key={"customer_id": {"S": VICTIM}}
    )
    second = cdc.reader.read()
    delivered(cdc, first)
    delivered(cdc, second)
    before = lines(cdc)
    erase(VICTIM, keep_history=keep_history)
    after_erase = lines(cdc)
    assert {k for k, _ in after_erase} == ({"a", "b", VICTIM} if keep_history else {"a", "b"})

    delivered(cdc, first)  # the first attempt's response was lost: Lambda delivers the batch again
    delivered(cdc, second)
    assert lines(cdc) == after_erase  # nothing erased came back, nothing stored twice

    put(cdc, "c")  # a later batch, and the person coming back after the erasure
    put(cdc, VICTIM, email="new-account@example.com")
    later = cdc.reader.read()
    delivered(cdc, later)
    now = lines(cdc)
    assert now == after_erase + Counter(
        (r["dynamodb"]["Keys"]["customer_id"]["S"], r["dynamodb"]["SequenceNumber"]) for r in later
    )
    assert sum(before.values()) == 5


def test_a_bisected_batch_that_starts_at_an_erased_change_does_not_archive_it(cdc: Cdc) -> None:
    """Lambda bisects a batch after a function error: the second half starts at the victim's
    change, which the erasure removed from the object the whole batch was archived in."""
    for key in ("a", VICTIM, "b"):
        put(cdc, key)
    batch = cdc.reader.read()
    delivered(cdc, batch)
    erase(VICTIM, keep_history=False)
    assert {k for k, _ in lines(cdc)} == {"a", "b"}

    delivered(cdc, batch[:1])  # the first half: its object runs past it (split for the next)
    delivered(cdc, batch[1:])  # the second half starts at the erased change
    assert lines(cdc) == Counter(
        {("a", batch[0]["dynamodb"]["SequenceNumber"]): 1, ("b", batch[2]["dynamodb"]["SequenceNumber"]): 1}
    )
