"""The CDC archive in a restore: optional catch-up after the restore point, and the archive sample
that validation compares the restored tables with."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from restore_support import (
    archiving_stack,
    corrupt,
    deploy,
    invocations_of,
    live_table,
    make_table,
    mark,
    run,
    scan,
)

from dynamodb_dr_local.emulator import Emulator, pitr
from dynamodb_dr_local.emulator.streams import monotonic_stream_sequences

pytestmark = pytest.mark.integration


def test_catch_up_replays_archived_changes_after_the_restore_point(emu: Emulator) -> None:
    stack = archiving_stack(emu, count=10)
    point = mark()
    table = emu.clients.session_resource("dynamodb").Table("customers")
    with monotonic_stream_sequences():  # archived through the stream mapping
        for n in range(3):
            table.put_item(Item={"customer_id": f"late-{n}", "email": f"late{n}@example.com"})
    current = scan(emu, "customers")

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers"}],
            "restore_time": point.isoformat(),
            "catch_up": True,
            "cutover": "automatic",
        },
        "catch-up",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    report = json.loads(result["output"])
    assert report["catch_up"]["status"] == "replayed"
    assert report["catch_up"]["detail"]["tables"][0]["puts"] == 3
    assert report["tables"][0]["item_count"] == 10  # validated at the restore point
    assert scan(emu, live_table(emu, stack, "customers")) == current  # then caught up


def test_catch_up_is_off_by_default(emu: Emulator) -> None:
    make_table(emu, "customers", count=5)
    stack = deploy(emu, "customers")
    result = run(
        emu, stack, {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "none"}, "off"
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["catch_up"] == {"status": "off"}
    assert "catch_up" not in [
        i.event.get("action") for i in emu.router.invocations if isinstance(i.event, dict)
    ]


def _archived_then_corrupted(emu: Emulator) -> tuple[Any, datetime, list[dict[str, Any]]]:
    """Ten items archived through the stream mapping, then corrupted; the restore point lies in
    between, more than the check's guard (1 s) plus a stream second away from both."""
    stack = archiving_stack(emu, count=0)
    table = emu.clients.session_resource("dynamodb").Table("customers")
    items = [{"customer_id": f"c{n}", "email": f"c{n}@example.com", "v": 1} for n in range(10)]
    with monotonic_stream_sequences():
        for item in items:
            table.put_item(Item=item)
        good = scan(emu, "customers")
        # Stream times are whole seconds (as on AWS): a change stamped s happened within
        # [s, s + 1 s), so the point keeps the guard plus that second from both sides.
        time.sleep(2.2)
        point = mark()
        time.sleep(3.2)
        corrupt(emu, "customers", items)
    return stack, point, good


def test_archive_sample_confirms_the_restore_point(emu: Emulator) -> None:
    stack, point, good = _archived_then_corrupted(emu)
    result = run(
        emu,
        stack,
        {"tables": [{"logical": "customers"}], "restore_time": point.isoformat(), "cutover": "automatic"},
        "sampled",
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")
    compare = next(iter(invocations_of(emu, "compare")))
    assert compare.result["tables"][0]["archive"] == {"status": "checked", "checked": 10, "mismatches": 0}
    assert scan(emu, live_table(emu, stack, "customers")) == good


def test_archive_sample_catches_a_restore_that_ignored_the_time(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, point, _ = _archived_then_corrupted(emu)
    # moto's own behaviour: a "point-in-time" restore that copies the current items
    monkeypatch.setattr(pitr, "rewind_items", lambda table, items, until: items)
    result = run(
        emu,
        stack,
        {"tables": [{"logical": "customers"}], "restore_time": point.isoformat(), "cutover": "automatic"},
        "wrong-time",
    )
    assert result["status"] == "FAILED" and result["error"] == "RestoreValidationFailed"
    assert "10 of 10 archived keys differ" in result["cause"]
    assert live_table(emu, stack, "customers") == "customers"
