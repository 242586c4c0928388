"""The restore state machine (statemachines/restore.asl.json) end to end in the emulator:
the real ASL on moto's Step Functions engine, the real handlers, point-in-time history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from restore_support import (
    corrupt,
    deploy,
    figures,
    live_table,
    make_table,
    mark,
    messages,
    run,
    scan,
    start,
    subscribe_queue,
    table_names,
    tags,
    wait,
    wait_for_token,
)

from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


def test_restore_before_corruption_cuts_over_item_for_item(emu: Emulator) -> None:
    items = make_table(emu, "customers")
    ddb = emu.clients.client("dynamodb")
    ddb.update_time_to_live(
        TableName="customers", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    stack = deploy(emu, "customers")
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    good, good_items = figures(emu, "customers"), scan(emu, "customers")
    before_corruption = mark()
    corrupt(emu, "customers", items)
    corrupted = scan(emu, "customers")

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers"}],
            "restore_time": before_corruption.isoformat(),
            "cutover": "automatic",
            "validation": {"segments": 3, "min_items": 1, "expected": {"customers": good}},
        },
        "happy",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    report = json.loads(result["output"])
    live = live_table(emu, stack, "customers")
    assert live == report["tables"][0]["restored"] and live.startswith("customers-dr-")
    assert scan(emu, live) == good_items  # the pre-corruption data, item for item
    assert scan(emu, "customers") == corrupted  # the source is untouched
    assert report["restore_point"] == before_corruption.isoformat()
    assert report["rpo_achieved_seconds"] >= 0 and report["rto_elapsed_seconds"] >= 0
    assert report["tables"][0]["item_count"] == good["item_count"]
    assert report["tables"][0]["checksum"] == good["checksum"]
    assert report["cutover"]["status"] == "switched"
    assert report["cutover"]["pointers"][0]["previous"] == "customers"
    # what a restore drops came back
    restored = ddb.describe_table(TableName=live)["Table"]
    assert restored["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert restored["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in restored["GlobalSecondaryIndexes"]] == ["by-email"]
    pitr = ddb.describe_continuous_backups(TableName=live)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
    assert ddb.describe_time_to_live(TableName=live)["TimeToLiveDescription"]["AttributeName"] == "expires"
    assert tags(emu, live)["team"] == "payments"
    # honest about what could not be re-applied in this emulator
    not_reapplied = {s["setting"] for s in report["tables"][0]["settings_not_reapplied"]}
    assert not_reapplied == {"contributor_insights", "kinesis_destinations"}
    # the previous pointer is recorded
    ledger = ddb.get_item(
        TableName=stack.outputs["StateTableName"], Key={"pk": {"S": "RESTORE#happy"}, "sk": {"S": "CUTOVER"}}
    )["Item"]
    assert ledger["status"]["S"] == "SWITCHED" and '"previous": "customers"' in ledger["changes"]["S"]
    subjects = [m["Subject"] for m in messages(emu, queue)]
    assert subjects == ["dynamodb-dr: happy restored"]


def test_three_tables_restore_to_one_point_and_switch_together(emu: Emulator) -> None:
    names = ("customers", "orders", "invoices")
    items = {name: make_table(emu, name, count=25, seed=i) for i, name in enumerate(names)}
    stack = deploy(emu, *names)
    good = {name: scan(emu, name) for name in names}
    point = mark()
    for name in names:
        corrupt(emu, name, items[name])

    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": n} for n in names],
            "restore_time": point.isoformat(),
            "cutover": "automatic",
            "validation": {"segments": 2, "min_items": 25},
        },
        "three",
    )

    assert result["status"] == "SUCCEEDED", result.get("cause")
    report = json.loads(result["output"])
    assert {p["logical"] for p in report["cutover"]["pointers"]} == set(names)
    for name in names:
        live = live_table(emu, stack, name)
        assert live.startswith(f"{name}-dr-")
        assert scan(emu, live) == good[name]
        assert tags(emu, live)["dynamodb-dr:restore-point"] == point.isoformat()


def test_rehearsal_without_cutover_keeps_pointers(emu: Emulator) -> None:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers", "target": "customers-dr-rehearsal"}],
            "use_latest": True,
            "cutover": "none",
        },
        "rehearsal",
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert live_table(emu, stack, "customers") == "customers"
    assert scan(emu, "customers-dr-rehearsal") == scan(emu, "customers")
    assert json.loads(result["output"])["cutover"] == {"status": "not-switched"}


@pytest.mark.parametrize("answer", ["approve", "reject", "success-without-approval"])
def test_manual_approval(emu: Emulator, answer: str) -> None:
    approve = answer == "approve"
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    arn = start(
        emu,
        stack,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "approval"},
        answer,
    )
    token = wait_for_token(emu, answer)
    request = messages(emu, queue)[0]
    assert "send-task-success" in request["Message"] and token in request["Message"]
    assert "send-task-failure" in request["Message"]
    assert live_table(emu, stack, "customers") == "customers"  # nothing switched while waiting
    sfn = emu.clients.client("stepfunctions")
    if approve:
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    elif answer == "reject":
        sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause="not today")
    else:  # a success that does not say approved must not cut over
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": False}))
    result = wait(emu, arn)
    restored = [t for t in table_names(emu) if t.startswith("customers-dr-")]
    assert len(restored) == 1
    if approve:
        assert result["status"] == "SUCCEEDED", result.get("cause")
        assert live_table(emu, stack, "customers") == restored[0]
    else:
        assert result["status"] == "FAILED" and result["error"] == "ApprovalRejected"
        assert live_table(emu, stack, "customers") == "customers"
        assert tags(emu, restored[0])["dynamodb-dr:restore-status"] == "FAILED"  # kept (default policy)


def test_rollback_restores_previous_pointers_and_keeps_tables(emu: Emulator) -> None:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    first = run(
        emu,
        stack,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "restore-1",
    )
    assert first["status"] == "SUCCEEDED", first.get("cause")
    restored = live_table(emu, stack, "customers")
    assert restored != "customers"

    back = run(emu, stack, {"rollback": {"execution": "restore-1"}}, "rollback-1")

    assert back["status"] == "SUCCEEDED", back.get("cause")
    assert live_table(emu, stack, "customers") == "customers"
    assert restored in table_names(emu)  # old tables are kept
    assert json.loads(back["output"])["rollback"]["status"] == "rolled-back"
    again = run(emu, stack, {"rollback": {"execution": "restore-1"}}, "rollback-2")  # idempotent
    assert again["status"] == "SUCCEEDED"
    assert live_table(emu, stack, "customers") == "customers"
    unknown = run(emu, stack, {"rollback": {"execution": "never-ran"}}, "rollback-3")
    assert unknown["status"] == "FAILED" and unknown["error"] == "RestoreRequestInvalid"


def test_restore_of_a_restored_live_table(emu: Emulator) -> None:
    """After a cutover the live table (a restore, PITR re-applied) is the next restore's source."""
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    first = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers", "target": "customers-dr-a"}],
            "use_latest": True,
            "cutover": "automatic",
        },
        "first",
    )
    assert first["status"] == "SUCCEEDED", first.get("cause")
    second = run(
        emu,
        stack,
        {
            "tables": [{"logical": "customers", "target": "customers-dr-b"}],
            "use_latest": True,
            "cutover": "automatic",
        },
        "second",
    )
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert json.loads(second["output"])["tables"][0]["source"] == "customers-dr-a"
    assert live_table(emu, stack, "customers") == "customers-dr-b"


def _retry_once(emu: Emulator, action: str, error: type[Exception]) -> list[str]:
    seen: list[str] = []

    def hook(function_name: str, event: Any) -> None:
        if isinstance(event, dict) and event.get("action") == action and not seen:
            seen.append(action)
            raise error("injected")

    emu.router.fault_hook = hook
    return seen


def test_transient_errors_are_retried(emu: Emulator) -> None:
    from dynamodb_dr.core.errors import TransientAwsError

    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    seen = _retry_once(emu, "start_restore", TransientAwsError)
    result = run(
        emu,
        stack,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "transient",
    )
    assert seen == ["start_restore"]
    assert result["status"] == "SUCCEEDED", result.get("cause")
