"""The posture check after `dynamodb-dr erase` rewrote archive objects: it still finds the newest
archived change, so an erasure is never reported as writes the archive does not hold (and the
archive's reach does not move back). Real follower, archiver and posture functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cdc_support import Cdc
from freshness_support import cdc_of, delivery, enable_pitr, follow, let_time_pass, posture, write

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

pytestmark = pytest.mark.integration
MODES = pytest.mark.parametrize("keep_history", [False, True], ids=["purged", "kept"])


@MODES
def test_an_erasure_rewriting_older_objects_is_not_archive_lag(
    emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch, keep_history: bool
) -> None:
    """In one hour: three objects each holding a change of the victim and of another person (at
    :20), then an object of sign-ups (at :40). The purge rewrites the three older objects, which
    makes them the newest written; the posture check must still see the :40 changes."""
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    enable_pitr(emulator, hours_ago=6)
    follow(emulator, stack)
    delivery(emulator, stack)  # the mapping delivers nothing by itself: batches are made below
    table = emulator.clients.session_resource("dynamodb").Table("customers")
    for n in range(3):
        table.put_item(Item={"customer_id": "cv", "email": f"v{n}@example.com"})
        table.put_item(Item={"customer_id": f"a{n}", "email": f"a{n}@example.com"})
    let_time_pass(emulator, "customers", 20)
    write(emulator, "customers", 3, prefix="b")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    let_time_pass(
        emulator, "customers", (datetime.now(UTC) - (hour + timedelta(minutes=40))).total_seconds() / 60
    )

    reader = StreamReader(
        emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
    )
    cdc = Cdc(emulator, stack, stack.outputs["ArchiveBucketName"], reader)
    records = reader.read()
    for batch in (records[0:2], records[2:4], records[4:6], records[6:9]):
        payload, errored = cdc.invoke(batch)
        assert not errored and payload["batchItemFailures"] == [], payload
    newest = datetime.fromtimestamp(float(records[-1]["dynamodb"]["ApproximateCreationDateTime"]), UTC)
    assert hour + timedelta(minutes=39) < newest <= hour + timedelta(minutes=41)
    report, _ = posture(emulator, stack)
    assert cdc_of(report)["risks"] == []

    args = ["erase", "--table", "customers", "--key", json.dumps({"customer_id": "cv"}), "--json"]
    assert main([*args, *(["--keep-history"] if keep_history else [])]) == 0
    report, _ = posture(emulator, stack)
    found = cdc_of(report)
    assert found["risks"] == [], found["risks"]
    assert abs(datetime.fromisoformat(found["newest_change"]) - newest) < timedelta(seconds=1)
    assert datetime.fromisoformat(found["reach"]) >= newest - timedelta(seconds=1)
