"""Restore validation through the real ASL and handlers: a binary-keyed table whose segment
continues across invocations (issue 13 item 13), map attributes named like type tags (item 4), and
segments sized from the table (issue 16 item 3)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from restore_support import deploy, figures, invocations_of, run

from dynamodb_dr.restore import checksum
from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


def binary_table(emu: Emulator, name: str, count: int) -> None:
    """Keyed by a binary partition key; ~1 KB items, so a 1 MB Scan page holds < 1,000 of them."""
    ddb = emu.clients.client("dynamodb")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    rng = random.Random(13)
    rows = [
        {
            "pk": {"B": rng.randbytes(16) + b"\x00\xff"},
            "grades": {"M": {"B": {"N": str(i % 7)}, "SS": {"SS": ["x", "y"]}}},  # look-alike map keys
            "blob": {"BS": [bytes([i % 256]), b"\x80\x81"]},
            "pad": {"S": "p" * 900},
        }
        for i in range(count)
    ]
    for start in range(0, count, 25):
        ddb.batch_write_item(
            RequestItems={name: [{"PutRequest": {"Item": r}} for r in rows[start : start + 25]]}
        )


def scan_invocations(emu: Emulator) -> list[dict[str, Any]]:
    return [inv.event for inv in invocations_of(emu, "scan_segment")]


def test_a_binary_keyed_segment_continues_through_the_state_machine(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary_table(emu, "blobs", 2_500)  # ~2.5 MB: three 1 MB pages in one segment
    stack = deploy(emu, "blobs")
    expected = figures(emu, "blobs")
    # Every page "runs out of time": each continuation key goes through Lambda's JSON response
    # and the Map's state, as a segment longer than the function's timeout does on AWS.
    monkeypatch.setattr(checksum, "RESERVE_MS", 10**12)

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "blobs"}],
            "use_latest": True,
            "cutover": "none",
            "validation": {"segments": 1, "min_items": 1, "expected": {"blobs": expected}},
        },
        "binary-keys",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    calls = scan_invocations(emu)
    assert len(calls) >= 3, "the segment never continued"
    continued = [c["progress"]["next_key"] for c in calls if c["progress"].get("next_key")]
    assert continued and all(isinstance(k["pk"]["B"], str) for k in continued)  # base64 text in the state
    report = json.loads(result["output"])
    table = report["tables"][0]
    assert table["item_count"] == 2_500 and table["checksum"] == expected["checksum"]


def test_segments_are_sized_from_the_table_and_the_plan_carries_the_estimate(emu: Emulator) -> None:
    binary_table(emu, "blobs", 60)
    stack = deploy(emu, "blobs")

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "blobs"}],
            "use_latest": True,
            "cutover": "none",
            "validation": {"min_items": 1},
        },
        "sized",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    plans = [inv.event["plan"] for inv in invocations_of(emu, "plan_validation")]
    estimate = plans[0]["validation_estimate"]
    assert estimate["fits"] is True and estimate["warning"] is None
    assert [t["segments"] for t in estimate["tables"]] == [1]  # a small table: one segment
    assert {c["segment"]["total"] for c in scan_invocations(emu)} == {1}
