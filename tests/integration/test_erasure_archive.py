"""The CDC archiver after `dynamodb-dr erase`: later batches archive as before, a batch Lambda
delivers again (a retry after a lost response or a function error, whole or bisected) never puts
an erased change back into the archive, and changes made before the erasure that were still on
their way to the archive are removed once they arrive. The real archiver function, invoked like
Lambda does (directly, or through the emulated stream mapping)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from cdc_support import Cdc
from freshness_support import delivery, follow

from dynamodb_dr.cdc.erasure import ErasureStore
from dynamodb_dr.cdc.model import read_object
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import erase as erase_command
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


def every_version(cdc: Cdc) -> list[str]:
    """Keys of every change in every version of every archive object."""
    s3 = cdc.emulator.clients.client("s3")
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=cdc.bucket, Prefix="cdc/"):
        for version in page.get("Versions", []):
            if version["Key"].endswith(".jsonl.gz"):
                body = s3.get_object(Bucket=cdc.bucket, Key=version["Key"], VersionId=version["VersionId"])
                found += [
                    c.keys["customer_id"]["S"] for c in read_object(body["Body"].read(), version["Key"])
                ]
    return found


def app_erases_the_person(cdc: Cdc) -> None:
    """The application's own erasure, right before `dynamodb-dr erase`: its changes are still in
    the stream (Lambda's batching window) when the purge runs."""
    put(cdc, "a")
    put(cdc, VICTIM)
    cdc.emulator.clients.client("dynamodb").delete_item(
        TableName="customers", Key={"customer_id": {"S": VICTIM}}
    )


def test_changes_still_on_their_way_to_the_archive_are_removed_when_they_arrive(
    cdc: Cdc, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    follow(cdc.emulator, cdc.stack)  # the archiver's mapping on the live stream ...
    mapping = delivery(cdc.emulator, cdc.stack)  # ... delivers when polled, not at once
    app_erases_the_person(cdc)
    waits: list[int] = []
    # Time passes while erase waits: the mapping delivers the batch.
    monkeypatch.setattr(erase_command, "sleep", lambda _: waits.append(mapping.drain()), raising=False)
    capsys.readouterr()
    assert main(["erase", "--table", "customers", "--key", '{"customer_id": "cv"}', "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    mapping.drain()  # whatever is still on its way arrives
    assert "a" in every_version(cdc) and VICTIM not in every_version(cdc)
    assert waits == [3]
    flight = report["archive"]["in_flight"]
    assert flight["stream_records"] == 2 and flight["pending"] == 0 and flight["purged_again"] == 1
    assert report["archive"]["changes_removed"] == 2


def test_changes_not_archived_in_time_are_reported_and_removed_by_a_purge_only_run(
    cdc: Cdc, capsys: pytest.CaptureFixture[str]
) -> None:
    follow(cdc.emulator, cdc.stack)
    mapping = delivery(cdc.emulator, cdc.stack)
    app_erases_the_person(cdc)
    capsys.readouterr()
    args = ["erase", "--table", "customers", "--key", '{"customer_id": "cv"}']
    assert main([*args, "--wait", "0", "--json"]) == 0
    captured = capsys.readouterr()
    flight = json.loads(captured.out)["archive"]["in_flight"]
    assert flight["pending"] == 2 and flight["archiver_reads_stream"] is True
    assert "2 change(s) of these keys made before the erasure are not in the archive yet" in captured.err
    assert "--purge-only" in captured.err
    entry = ErasureStore(cdc.emulator.clients.client("s3"), cdc.bucket).entries("customers")

    mapping.drain()  # the archiver delivers them: the history is back in the archive ...
    assert VICTIM in every_version(cdc)
    assert main([*args, "--purge-only", "--json"]) == 0  # ... until the operator purges again
    again = json.loads(capsys.readouterr().out)
    assert again["recorded"] == [] and again["archive"]["in_flight"]["pending"] == 0
    assert VICTIM not in every_version(cdc) and "a" in every_version(cdc)
    assert (
        ErasureStore(cdc.emulator.clients.client("s3"), cdc.bucket).entries("customers") == entry
    )  # same time

    assert main(["erase", "--table", "customers", "--key", '{"customer_id": "nobody"}', "--purge-only"]) == 2
    assert "not on the erasure list" in capsys.readouterr().err


def test_purging_again_keeps_what_the_person_wrote_after_the_erasure(cdc: Cdc) -> None:
    """The erasure covers the history up to its time; a later write is kept (the person came
    back), also when the operator purges the key again."""
    put(cdc, VICTIM)
    delivered(cdc, cdc.reader.read())
    erase(VICTIM, keep_history=False)
    time.sleep(1.1)  # stream times are whole seconds: a write in the erasure's second counts as before it
    put(cdc, VICTIM, email="came-back@example.com")
    came_back = cdc.reader.read()
    delivered(cdc, came_back)
    args = ["erase", "--table", "customers", "--key", '{"customer_id": "cv"}', "--purge-only", "--json"]
    assert main(args) == 0
    assert lines(cdc) == Counter({(VICTIM, came_back[0]["dynamodb"]["SequenceNumber"]): 1})
