"""The in-place repair after `dynamodb-dr erase`: an erasure is a recorded removal, not a gap.

With the erased key's archive history purged (or kept with --keep-history), the repair's coverage
proof still proves a window the archive covers, repairs the other keys and never writes the erased
key back. A real gap next to the erasure (an archive object someone deleted, stream records never
archived) is still refused, naming only what is really missing. Real template, ASL and handlers.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from repair_support import KEY, Rig, customer, iso, next_second

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import repair as repair_command
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration
VICTIM = "cv"  # customer("v"): the person who asks to be erased


@pytest.fixture
def rig(emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    monkeypatch.setattr(repair_command, "POLL_SECONDS", 0.05)
    return Rig.create(emulator, stack)


def erase(key: str, *, keep_history: bool) -> None:
    args = ["erase", "--table", "customers", "--key", json.dumps({KEY: key}), "--json"]
    assert main([*args, *(["--keep-history"] if keep_history else [])]) == 0


def _victim(record: dict[str, Any]) -> bool:
    return bool(record["dynamodb"]["Keys"][KEY]["S"] == VICTIM)


def deliver(rig: Rig, *, apart: bool, hold_back: str | None = None) -> list[dict[str, Any]]:
    """Deliver the stream; with `apart` every change of the victim is a batch (so an archive object)
    of its own. Window changes of `hold_back` are not delivered (returned instead)."""
    records = rig.cdc.reader.read(limit=10**6)
    held = [r for r in records if hold_back and r["dynamodb"]["Keys"][KEY]["S"] == hold_back]
    held = [r for r in held if r["eventName"] == "MODIFY"]
    batch: list[dict[str, Any]] = []
    for record in (r for r in records if r not in held):
        if apart and _victim(record):
            if batch:
                rig.cdc.deliver(batch, batch_size=100)
                batch = []
            rig.cdc.deliver([record], batch_size=1)
        else:
            batch.append(record)
    if batch:
        rig.cdc.deliver(batch, batch_size=100)
    return held


def incident(rig: Rig, *, busy_after: bool) -> tuple[dict[str, Any], datetime, datetime]:
    """c0..c3 and the victim exist; in [t1, t2) a bad deploy corrupts c0..c2 and the victim, and
    the application deletes the victim (the person's erasure request); with `busy_after` sign-ups
    follow the window."""
    for n in range(4):
        rig.table.put_item(Item=customer(n))
    rig.table.put_item(Item=customer("v"))
    before = rig.items()
    t1 = next_second()
    for key in ("c0", "c1", "c2", VICTIM):
        rig.table.update_item(
            Key={KEY: key},
            UpdateExpression="SET email = :e, deploy_version = :v",
            ExpressionAttributeValues={":e": "null@invalid", ":v": "v42"},
        )
    rig.table.delete_item(Key={KEY: VICTIM})
    t2 = next_second()
    if busy_after:
        for n in range(3):
            rig.table.put_item(Item={KEY: f"new{n}", "email": f"new{n}@example.com"})
    return before, t1, t2


def window(t1: datetime, t2: datetime) -> dict[str, Any]:
    return {"table": "customers", "from": iso(t1), "to": iso(t2)}


def _repaired(rig: Rig, before: dict[str, Any], described: dict[str, Any], keep_history: bool) -> None:
    assert described["status"] == "SUCCEEDED", described.get("cause") or described
    report = described["report"]
    assert report["status"] == "repaired"
    after = rig.items()
    assert all(after[k] == before[k] for k in ("c0", "c1", "c2", "c3"))
    assert VICTIM not in after  # never brought back
    assert report["proof"]["unexplained"] == 0
    # Purged: the repair never sees the victim. Kept: it sees it and leaves it out (changed since).
    assert report["keys"]["affected"] == (4 if keep_history else 3)
    assert report["applied"]["written"] == 3
    stored = rig.stored_report(described)
    assert VICTIM not in json.dumps(stored["sample_keys"])


@pytest.mark.parametrize("keep_history", [False, True], ids=["purged", "kept"])
def test_a_busy_table_is_repaired_after_an_erasure_emptied_archive_objects(
    rig: Rig, keep_history: bool
) -> None:
    """Every change of the victim is an archive object of its own: the purge empties them. That is
    not a deleted archive object (a gap), and the window is proven by the sign-ups after it."""
    before, t1, t2 = incident(rig, busy_after=True)
    deliver(rig, apart=True)
    erase(VICTIM, keep_history=keep_history)
    described = rig.run(window(t1, t2), f"busy-{int(keep_history)}")
    _repaired(rig, before, described, keep_history)
    assert "after the window" in json.dumps(described["report"]["archive"]["proofs"])


@pytest.mark.parametrize("keep_history", [False, True], ids=["purged", "kept"])
def test_a_quiet_table_is_proven_by_its_stream_after_an_erasure(rig: Rig, keep_history: bool) -> None:
    """Nothing follows the window, so its stream is read: the victim's records are still there
    but (purged) no longer in the archive. The erasure record accounts for them."""
    before, t1, t2 = incident(rig, busy_after=False)
    deliver(rig, apart=False)
    erase(VICTIM, keep_history=keep_history)
    described = rig.run(window(t1, t2), f"quiet-{int(keep_history)}")
    _repaired(rig, before, described, keep_history)
    assert "stream read" in json.dumps(described["report"]["archive"]["proofs"])


def _cli(capsys: pytest.CaptureFixture[str], t1: datetime, t2: datetime) -> tuple[int, str]:
    code = main(["repair", "--table", "customers", "--from", iso(t1), "--to", iso(t2)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith(("  -> ", "started"))]
    return code, "\n".join(lines)


def _archive_objects(rig: Rig) -> list[str]:
    s3 = rig.emulator.clients.client("s3")
    listed = s3.list_objects_v2(Bucket=rig.bucket, Prefix="cdc/table=customers/dt=")
    return sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".jsonl.gz"))


def test_an_object_someone_else_deleted_is_still_a_gap_next_to_an_erasure(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    _, t1, t2 = incident(rig, busy_after=True)
    deliver(rig, apart=True)
    erase(VICTIM, keep_history=False)
    capsys.readouterr()
    s3 = rig.emulator.clients.client("s3")
    holding = [
        key
        for key in _archive_objects(rig)
        if b"null@invalid" in _body(s3, rig.bucket, key) and b'"c0"' in _body(s3, rig.bucket, key)
    ]
    [lost] = holding  # the object with c0..c2's window changes
    s3.delete_object(Bucket=rig.bucket, Key=lost)  # not by erase: a gap
    code, err = _cli(capsys, t1, t2)
    assert code == 2, err
    assert "RepairCoverageIncomplete" in err and f"deleted archive objects (a gap): {lost};" in err
    assert len(err.splitlines()) == 1
    assert rig.items()["c0"]["email"] == "null@invalid" and rig.backups() == {}  # nothing written


def test_stream_records_never_archived_are_still_missing_next_to_an_erasure(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quiet table whose archiver has not delivered c2's window change: the erased victim's
    records are accounted for, c2's is not, so the window is refused for exactly one record."""
    _, t1, t2 = incident(rig, busy_after=False)
    held = deliver(rig, apart=False, hold_back="c2")
    assert len(held) == 1
    erase(VICTIM, keep_history=False)
    capsys.readouterr()
    code, err = _cli(capsys, t1, t2)
    assert code == 2, err
    assert "RepairCoverageIncomplete" in err and "archive behind: 1 stream record(s)" in err
    assert rig.items()["c0"]["email"] == "null@invalid" and rig.backups() == {}
    rig.cdc.deliver(held, batch_size=10)  # the archiver catches up: the same window is proven
    code, err = _cli(capsys, t1, t2)
    assert code == 0, err
    assert VICTIM not in rig.items() and rig.items()["c2"]["email"] == "c2@example.com"


def _body(s3: Any, bucket: str, key: str) -> bytes:
    import gzip

    return gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_an_unreadable_erasure_record_is_refused_by_name(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody can tell what an unreadable record removed on purpose: the window is not proven."""
    _, t1, t2 = incident(rig, busy_after=False)
    deliver(rig, apart=False)
    erase(VICTIM, keep_history=False)
    capsys.readouterr()
    s3 = rig.emulator.clients.client("s3")
    listed = s3.list_objects_v2(Bucket=rig.bucket, Prefix="cdc/table=customers/erased/")
    [record] = [o["Key"] for o in listed["Contents"]]
    s3.put_object(Bucket=rig.bucket, Key=record, Body=b"{not json")
    code, err = _cli(capsys, t1, t2)
    assert code == 2, err
    assert "RepairCoverageIncomplete" in err and f"unreadable (corrupt) archive objects: {record}" in err
    assert rig.items()["c0"]["email"] == "null@invalid" and rig.backups() == {}
