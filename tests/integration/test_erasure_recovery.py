"""Replay, rebuild and the restore's carry-over after `dynamodb-dr erase`, history purged or kept.

An erasure is a recorded removal: a rebuild still reaches the time the archive covered (the erased
change was archived), the other keys are recovered, and the erased key comes back in neither mode.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdc_support import Cdc, allow_object_writes, create_target, items
from conftest import invoke
from export_support import at, exported_history
from restore_support import deploy, live_table, make_table, run, scan

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.streams import StreamReader, monotonic_stream_sequences

pytestmark = pytest.mark.integration
MODES = pytest.mark.parametrize("keep_history", [False, True], ids=["purged", "kept"])


def erase(key: str, *, keep_history: bool) -> None:
    args = ["erase", "--table", "customers", "--key", json.dumps({"customer_id": key}), "--json"]
    assert main([*args, *(["--keep-history"] if keep_history else [])]) == 0


def stream_record(stream_arn: str, seq: int, key: str, when: datetime, name: str) -> dict[str, Any]:
    """A Lambda-shaped stream record made at a simulated time (the emulator stamps real time)."""
    image = {"customer_id": {"S": key}, "email": {"S": f"{key}@example.com"}}
    return {
        "eventID": f"sim-{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": when.timestamp(),
            "Keys": {"customer_id": {"S": key}},
            "NewImage": image,
            "SequenceNumber": str(seq),
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


@MODES
def test_a_rebuild_reaches_its_time_when_the_change_that_proves_it_was_erased(
    keep_history: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    """The exports reach 6 h; the archive holds a sign-up at 6 h 10 and the victim's change at
    6 h 30, the rebuild's time. The victim's change is what proves the archive got to 6 h 30: erased,
    it still does (recorded), so the rebuild neither stops short nor brings the victim back."""
    with exported_history(monkeypatch) as sim:
        emulator, stack = sim.emulator, sim.stack
        state = sim.snapshots[at(6)]
        victim = sorted(state)[0]
        when = at(6) + timedelta(minutes=30)
        arn = emulator.clients.client("dynamodb").describe_table(TableName="customers")["Table"][
            "LatestStreamArn"
        ]
        records = [
            stream_record(arn, 9_000_001, "late-signup", at(6) + timedelta(minutes=10), "INSERT"),
            stream_record(arn, 9_000_002, victim, when, "MODIFY"),
        ]
        payload, errored = invoke(emulator, stack.physical("CdcArchiverFunction"), {"Records": records})
        assert not errored and payload["batchItemFailures"] == [], payload
        erase(victim, keep_history=keep_history)
        capsys.readouterr()

        report_file = tmp_path / "report.json"
        args = ["restore-from-s3", "--table", "customers", "--target", "customers-s3-erased", "--bucket"]
        args += [sim.bucket, "--at", when.isoformat(), "--poll-seconds", "0.01", "--report", str(report_file)]
        code = main(args)
        assert code == 0, capsys.readouterr().err
        report = json.loads(report_file.read_text())
        assert report["reached"] == when.isoformat() and not report["partial"]
        rebuilt = sim.scan("customers-s3-erased")
        assert victim not in rebuilt
        assert set(rebuilt) == set(state) - {victim} | {"late-signup"}


@MODES
def test_a_replay_leaves_the_erased_key_out_of_its_target(
    emu: Emulator, keep_history: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target holds the table as it was at the replay's start (the victim included); the
    victim was changed in the window, then erased: the replay's result holds it in neither mode."""
    create_customers_table(emu.clients.client("dynamodb"), "customers")
    stack = emu.deploy(parameters={"ProtectedTables": "customers"})
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    reader = StreamReader(emu.clients.client("dynamodb"), emu.clients.client("dynamodbstreams"), "customers")
    cdc = Cdc(emu, stack, stack.outputs["ArchiveBucketName"], reader)
    resource = emu.clients.session_resource("dynamodb")
    create_target(emu.clients.client("dynamodb"), "customers-copy")
    base = {"customer_id": "r-1", "email": "r1-at-start@example.com"}
    resource.Table("customers-copy").put_item(Item=base)  # the table at the replay's start
    start = datetime.now(UTC) - timedelta(seconds=1)
    table = resource.Table("customers")
    for n in range(4):
        table.put_item(Item={"customer_id": f"r-{n}", "email": f"r{n}@example.com"})
    cdc.deliver(cdc.reader.read(), batch_size=10)
    erase("r-1", keep_history=keep_history)

    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    args = ["--table", "customers", "--from", start.isoformat(), "--to", end, "--target", "customers-copy"]
    assert main(["replay", *args, "--json"]) == 0
    assert set(items(resource, "customers-copy")) == {"r-0", "r-2", "r-3"}


@MODES
def test_the_carry_over_leaves_an_erased_key_out_of_the_restored_table(
    emu: Emulator, keep_history: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the cutover the old table takes three late writes; one person is erased before the
    carry-over runs: the other two are carried over, the erased one is not (either mode)."""
    with monotonic_stream_sequences():
        make_table(emu, "customers", count=10)
        stack = deploy(emu, "customers")
        monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
        allow_object_writes(emu, stack.outputs["ArchiveBucketName"])
        _, errored = invoke(emu, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
        assert not errored
        old = emu.clients.session_resource("dynamodb").Table("customers")
        done: list[bool] = []

        def stale_writer(function_name: str, event: Any) -> None:
            if isinstance(event, dict) and event.get("action") == "fence" and not done:
                for n in range(3):
                    old.put_item(Item={"customer_id": f"stale-{n}", "email": f"s{n}@example.com"})
                erase("stale-1", keep_history=keep_history)
                done.append(True)

        emu.router.fault_hook = stale_writer
        result = run(
            emu,
            stack,
            {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
            f"cut-{int(keep_history)}",
        )
        emu.router.fault_hook = None
    assert result["status"] == "SUCCEEDED", result.get("cause")
    restored = live_table(emu, stack, "customers")
    keys = {i["customer_id"]["S"] for i in scan(emu, restored)}
    assert {"stale-0", "stale-2"} <= keys and "stale-1" not in keys
    carried = json.loads(result["output"])["carried_over"]["detail"]["tables"][0]
    assert carried["applied"] == (3 if keep_history else 2)  # kept: its last change becomes a delete
