"""Every failure branch of the restore state machine: the run fails with a named error, notifies,
never switches a pointer, leaves the sources as they were, and applies the clean-up policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from restore_support import (
    deploy,
    invocations_of,
    live_table,
    make_table,
    messages,
    run,
    scan,
    subscribe_queue,
    table_names,
    tags,
)

from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture
def protected(emu: Emulator) -> tuple[DeployedStack, str]:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    return stack, subscribe_queue(emu, stack.outputs["RestoreTopicArn"])


def source_state(emu: Emulator, table: str = "customers") -> dict[str, Any]:
    ddb = emu.clients.client("dynamodb")
    described = ddb.describe_table(TableName=table)["Table"]
    return {
        "items": scan(emu, table),
        "stream": described.get("StreamSpecification"),
        "deletion_protection": described.get("DeletionProtectionEnabled"),
        "pitr": ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"
        ]["PointInTimeRecoveryStatus"],
        "tags": tags(emu, table),
    }


def fails_cleanly(
    emu: Emulator, stack: DeployedStack, queue: str, request: dict[str, Any], name: str, error: str
) -> dict[str, Any]:
    before = source_state(emu)
    result = run(emu, stack, request, name)
    assert result["status"] == "FAILED", result
    assert result["error"] == error, result.get("cause")
    assert live_table(emu, stack, "customers") == "customers"  # no cutover
    assert source_state(emu) == before  # the source is untouched
    notes = [m for m in messages(emu, queue) if m["Subject"].startswith("dynamodb-dr restore FAILED")]
    assert len(notes) == 1 and error in notes[0]["Subject"]
    ledger = emu.clients.client("dynamodb").get_item(
        TableName=stack.outputs["StateTableName"],
        Key={"pk": {"S": f"RESTORE#{name}"}, "sk": {"S": "CUTOVER"}},
    )
    assert "Item" not in ledger
    note: dict[str, Any] = json.loads(notes[0]["Message"])
    return note


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        ({"tables": [{"logical": "customers"}]}, "neither restore_time nor use_latest"),
        ({"tables": [{"logical": "orders"}], "use_latest": True}, "not protected"),
        ({"tables": [{"logical": "customers", "target": "elsewhere"}], "use_latest": True}, "target pattern"),
        ({"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "yolo"}, "bad mode"),
        ({"tables": [{"logical": "customers"}], "restore_time": "2020-01-01T00:00:00Z"}, "outside window"),
        ({"tables": [{"logical": "customers"}], "use_latest": True, "surprise": 1}, "unknown field"),
    ],
)
def test_bad_input_fails_fast_and_creates_nothing(
    emu: Emulator, protected: Any, request_: Any, why: str
) -> None:
    stack, queue = protected
    tables_before = table_names(emu)
    note = fails_cleanly(emu, stack, queue, request_, "bad-input", "RestoreRequestInvalid")
    assert table_names(emu) == tables_before, why
    assert note["cleanup"] == []


def test_pitr_off_and_taken_target_are_refused(emu: Emulator, protected: Any) -> None:
    stack, queue = protected
    make_table(emu, "customers-dr-taken", count=1)
    fails_cleanly(
        emu,
        stack,
        queue,
        {"tables": [{"logical": "customers", "target": "customers-dr-taken"}], "use_latest": True},
        "taken",
        "RestoreRequestInvalid",
    )
    emu.clients.client("dynamodb").update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    fails_cleanly(
        emu,
        stack,
        queue,
        {"tables": [{"logical": "customers"}], "use_latest": True},
        "no-pitr",
        "RestoreRequestInvalid",
    )


def test_restore_error(emu: Emulator, protected: Any) -> None:
    from dynamodb_dr.core.errors import LimitExceeded

    stack, queue = protected

    def hook(function_name: str, event: Any) -> None:
        if isinstance(event, dict) and event.get("action") == "start_restore":
            raise LimitExceeded("LimitExceededException: too many concurrent restores")

    emu.router.fault_hook = hook
    fails_cleanly(
        emu,
        stack,
        queue,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "restore-error",
        "LimitExceeded",
    )
    attempts = invocations_of(emu, "start_restore")
    assert len(attempts) == 6  # a restore quota: retried with backoff (~15 minutes on AWS), then failed


def test_restore_timeout_derived_budget_and_delete_policy(emu: Emulator, protected: Any) -> None:
    stack, queue = protected
    CONTROL.creating_describes = -1  # restored tables stay CREATING
    note = fails_cleanly(
        emu,
        stack,
        queue,
        {
            "tables": [{"logical": "customers"}],
            "use_latest": True,
            "cutover": "automatic",
            "restore_timeout_minutes": 1,
            "on_failure": "delete",
        },
        "timeout",
        "RestoreTimedOut",
    )
    checks = invocations_of(emu, "check_restore")
    assert len(checks) == 3  # waits of 30 s until the 1-minute hard limit
    # A restore stopped by the hard limit may still finish: kept (whatever on_failure says) for resume.
    assert [c["action"] for c in note["cleanup"]] == ["kept"]
    assert '"resume"' in note["resume"]


def test_remaining_settings_difference_blocks_cutover(
    emu: Emulator, protected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    stack, queue = protected
    emu.clients.client("dynamodb").update_time_to_live(
        TableName="customers", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    original = DynamoDBBackend.update_time_to_live

    def broken(self: Any, table_name: str, spec: dict[str, Any]) -> None:
        if "-dr-" in table_name:
            raise RuntimeError("injected: TTL cannot be set")
        original(self, table_name, spec)

    monkeypatch.setattr(DynamoDBBackend, "update_time_to_live", broken)
    note = fails_cleanly(
        emu,
        stack,
        queue,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "settings",
        "SettingsDiffRemaining",
    )
    assert "ttl" in json.dumps(note["cause"])
    assert [c["action"] for c in note["cleanup"]] == ["kept"]  # default policy: keep, tagged FAILED
    restored = next(t for t in table_names(emu) if t.startswith("customers-dr-"))
    assert tags(emu, restored)["dynamodb-dr:restore-status"] == "FAILED"
    # an operator may accept the difference explicitly
    accepted = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers", "target": "customers-dr-accepted"}],
            "use_latest": True,
            "cutover": "none",
            "accept_setting_differences": ["ttl"],
        },
        "accepted",
    )
    assert accepted["status"] == "SUCCEEDED", accepted.get("cause")
    assert json.loads(accepted["output"])["accepted_setting_differences"] == {"customers": ["ttl"]}


@pytest.mark.parametrize(
    "validation",
    [
        {"expected": {"customers": {"checksum": "0" * 32}}},
        {"expected": {"customers": {"item_count": 41}}},
        {"min_items": 1000},
    ],
)
def test_validation_failure_blocks_cutover(emu: Emulator, protected: Any, validation: dict[str, Any]) -> None:
    stack, queue = protected
    note = fails_cleanly(
        emu,
        stack,
        queue,
        {
            "tables": [{"logical": "customers"}],
            "use_latest": True,
            "cutover": "automatic",
            "validation": validation,
        },
        "validation",
        "RestoreValidationFailed",
    )
    assert [c["action"] for c in note["cleanup"]] == ["kept"]


def test_a_restore_time_in_the_future_is_refused(emu: Emulator, protected: Any) -> None:
    stack, queue = protected
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    fails_cleanly(
        emu,
        stack,
        queue,
        {"tables": [{"logical": "customers"}], "restore_time": future},
        "future",
        "RestoreRequestInvalid",
    )
