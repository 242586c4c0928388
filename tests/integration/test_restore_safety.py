"""Issue 13, restore: executions never destroy each other's tables, the outcome after a cutover is
true, half cutovers roll back, steps survive retries, errors stay bounded, malformed scan results
and empty restores never cut over, and the approver sees what was validated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import invoke
from restore_support import (
    deploy,
    figures,
    invocations_of,
    live_table,
    make_table,
    mark,
    messages,
    pointer,
    run,
    scan,
    start,
    subscribe_queue,
    table_names,
    tags,
    wait,
    wait_for_token,
)

from dynamodb_dr.core import paths
from dynamodb_dr.core.errors import AccessDenied
from dynamodb_dr_local.drill.workload import load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector

pytestmark = pytest.mark.integration
LATEST = {"tables": [{"logical": "customers"}], "use_latest": True}


@pytest.fixture
def stack(emu: Emulator) -> DeployedStack:
    make_table(emu, "customers")
    return deploy(emu, "customers")


def ledger(emu: Emulator, stack: DeployedStack, execution: str) -> dict[str, Any]:
    return dict(
        emu.clients.client("dynamodb").get_item(
            TableName=stack.outputs["StateTableName"],
            Key={"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": "CUTOVER"}},
        )["Item"]
    )


def restored_tables(emu: Emulator, logical: str = "customers") -> set[str]:
    return {t for t in table_names(emu) if t.startswith(f"{logical}-dr-")}


# ------------------------------------------------------------------ item 5: separate targets
def test_the_same_input_twice_in_one_second_restores_into_separate_tables(
    emu: Emulator, stack: DeployedStack
) -> None:
    request = {**LATEST, "cutover": "none", "on_failure": "delete"}
    arns = [start(emu, stack, request, "twin-a"), start(emu, stack, request, "twin-b")]
    results = [wait(emu, arn) for arn in arns]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"], [r.get("cause") for r in results]
    restored = [json.loads(r["output"])["tables"][0]["restored"] for r in results]
    assert len(set(restored)) == 2 and set(restored) <= restored_tables(emu)
    for name, table in zip(("twin-a", "twin-b"), restored, strict=True):
        assert tags(emu, table)["dynamodb-dr:restore-execution"] == name


def test_an_execution_never_adopts_or_cleans_up_another_executions_table(
    emu: Emulator, stack: DeployedStack
) -> None:
    first = run(emu, stack, {**LATEST, "cutover": "none"}, "owner")
    assert first["status"] == "SUCCEEDED", first.get("cause")
    plan = json.loads(json.dumps(_plan_of(emu, "owner")))
    target = plan["tables"][0]["target"]
    before = figures(emu, target)
    # A second execution whose plan names the same target (same source, same point in time).
    intruder = {**plan, "execution": "intruder", "on_failure": "delete"}
    function = stack.physical("RestoreFunction")
    payload, errored = invoke(emu, function, {"action": "start_restore", "plan": intruder})
    assert errored and payload["errorType"] == "RestoreRequestInvalid", payload
    state = {"plan": intruder, "error": {"Error": "RestoreRequestInvalid", "Cause": "x"}}
    payload, errored = invoke(emu, function, {"action": "fail", "state": state})
    assert not errored, payload
    assert payload["cleanup"] == [
        {"table": target, "action": "none", "reason": "not created by this execution"}
    ]
    assert figures(emu, target) == before, "the owner's table is intact"


def _plan_of(emu: Emulator, execution: str) -> dict[str, Any]:
    for invocation in invocations_of(emu, "start_restore"):
        if invocation.event["plan"]["execution"] == execution:
            return dict(invocation.event["plan"])
    raise AssertionError(f"no plan for {execution}")


# ------------------------------------------------------------------ item 8: one target, two tables
def test_two_tables_naming_the_same_target_are_refused(emu: Emulator) -> None:
    make_table(emu, "app")
    make_table(emu, "app-dr-x", count=5)
    stack = deploy(emu, "app", "app-dr-x")
    before = table_names(emu)
    result = run(
        emu,
        stack,
        {
            "tables": [
                {"logical": "app", "target": "app-dr-x-dr-1"},
                {"logical": "app-dr-x", "target": "app-dr-x-dr-1"},
            ],
            "use_latest": True,
            "cutover": "none",
        },
        "same-target",
    )
    assert result["status"] == "FAILED" and result["error"] == "RestoreRequestInvalid"
    assert "same target" in result["cause"]
    assert table_names(emu) == before


# ------------------------------------------------------------------ item 6: after the cutover
def test_a_denied_report_after_cutover_succeeds_saying_cut_over_reporting_failed(
    emu: Emulator, stack: DeployedStack
) -> None:
    with FaultInjector() as faults:
        faults.deny("sns", "Publish")
        result = run(emu, stack, {**LATEST, "cutover": "automatic"}, "deny-report")
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    assert output["outcome"] == "cut over; reporting failed"
    assert output["cutover"]["status"] == "switched"
    assert live_table(emu, stack, "customers") == output["tables"][0]["restored"]
    logs = [i.logs for i in invocations_of(emu, "report")]
    assert any('"RestoreAfterCutoverProblems"' in log for log in logs), "the failed report is counted (alarm)"


def test_a_crashed_report_after_cutover_still_succeeds_and_records_the_metric(
    emu: Emulator, stack: DeployedStack
) -> None:
    def hook(function_name: str, event: Any) -> None:
        if isinstance(event, dict) and event.get("action") == "report":
            raise AccessDenied("injected: the report step cannot run")

    emu.router.fault_hook = hook
    result = run(emu, stack, {**LATEST, "cutover": "automatic"}, "crash-report")
    emu.router.fault_hook = None
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    assert output["outcome"] == "cut over; reporting failed"
    assert output["reporting_error"]["Error"] == "AccessDenied"
    assert live_table(emu, stack, "customers").startswith("customers-dr-")
    metrics = emu.clients.client("cloudwatch").list_metrics(Namespace=f"DynamoDBDR/{stack.name}")["Metrics"]
    assert any(m["MetricName"] == "RestoreAfterCutoverProblems" for m in metrics)


# ------------------------------------------------------------------ items 7 and 12: half cutovers
def test_a_half_cutover_is_reported_truthfully_and_rolls_back(emu: Emulator) -> None:
    make_table(emu, "customers")
    make_table(emu, "orders", count=20, seed=3)
    stack = deploy(emu, "customers", "orders")
    ssm = emu.clients.client("ssm")
    name = paths.live_table_parameter(paths.stack_prefix(stack.name), "customers")
    ssm.put_parameter(Name=name, Value="customers", Type="String")
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    request = {"tables": [{"logical": "customers"}, {"logical": "orders"}], "use_latest": True}
    with FaultInjector() as faults:
        # orders' switch fails, then putting customers back fails too
        faults.deny("ssm", "PutParameter", when=lambda p: p["Name"].endswith("/orders/live-table"))
        faults.deny(
            "ssm",
            "PutParameter",
            when=lambda p: p["Name"].endswith("/customers/live-table") and p["Value"] == "customers",
        )
        result = run(emu, stack, {**request, "cutover": "automatic"}, "half")
    assert result["status"] == "FAILED" and result["error"] == "CutoverFailed"
    assert "could NOT put back customers" in result["cause"]
    switched = live_table(emu, stack, "customers")
    assert switched.startswith("customers-dr-")
    assert pointer(emu, stack, "orders") is None, "orders never had a pointer and still has none"
    [note] = [m for m in messages(emu, queue) if "FAILED" in m["Subject"]]
    assert "SWITCHED to the restored table for ['customers']" in json.loads(note["Message"])["pointers"]

    back = run(emu, stack, {"rollback": {"execution": "half"}}, "half-rollback")
    assert back["status"] == "SUCCEEDED", back.get("cause")
    assert json.loads(back["output"])["rollback"]["status"] == "rolled-back"
    assert pointer(emu, stack, "customers") == "customers"
    assert pointer(emu, stack, "orders") is None
    assert ledger(emu, stack, "half")["status"]["S"] == "ROLLED_BACK"
    assert switched in table_names(emu), "rollback never deletes tables"


def test_rollback_puts_back_exactly_what_existed(emu: Emulator, stack: DeployedStack) -> None:
    assert pointer(emu, stack, "customers") is None
    result = run(emu, stack, {**LATEST, "cutover": "automatic"}, "from-nothing")
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert pointer(
        emu,
        stack,
        "customers",
    ).startswith("customers-dr-")  # type: ignore[union-attr]
    back = run(emu, stack, {"rollback": {"execution": "from-nothing"}}, "undo")
    assert back["status"] == "SUCCEEDED", back.get("cause")
    assert pointer(emu, stack, "customers") is None, "an absent pointer stays absent"


# ------------------------------------------------------------------ item 9: retried steps
def test_a_rollback_retried_after_its_ledger_write_failed_completes(
    emu: Emulator, stack: DeployedStack
) -> None:
    result = run(emu, stack, {**LATEST, "cutover": "automatic"}, "to-undo")
    assert result["status"] == "SUCCEEDED", result.get("cause")
    with FaultInjector() as faults:
        # the pointer is put back, then the ROLLED_BACK record is throttled through every SDK retry
        faults.throttle(
            "dynamodb",
            "PutItem",
            times=5,
            when=lambda p: p.get("Item", {}).get("status", {}).get("S") == "ROLLED_BACK",
        )
        back = run(emu, stack, {"rollback": {"execution": "to-undo"}}, "retried-undo")
    assert back["status"] == "SUCCEEDED", back.get("cause")
    assert pointer(emu, stack, "customers") is None
    assert ledger(emu, stack, "to-undo")["status"]["S"] == "ROLLED_BACK"
    again = run(emu, stack, {"rollback": {"execution": "to-undo"}}, "undo-again")
    assert json.loads(again["output"])["rollback"]["status"] == "already-rolled-back"


# ------------------------------------------------------------------ item 10: bounded errors
@pytest.mark.parametrize("size", [20_000, 200_000])
def test_huge_input_values_give_bounded_errors_and_the_failure_path_runs(
    emu: Emulator, stack: DeployedStack, size: int
) -> None:
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    result = run(emu, stack, {"tables": [{"logical": "x" * size}], "use_latest": True}, f"huge-{size}")
    assert result["status"] == "FAILED" and result["error"] == "RestoreRequestInvalid"
    assert len(result["cause"]) < 32_768
    failures = invocations_of(emu, "fail")
    assert len(failures) == 1 and not failures[0].errored
    assert len(json.dumps(failures[0].event)) < 256 * 1024
    assert [m for m in messages(emu, queue) if "FAILED" in m["Subject"]]


# ------------------------------------------------------------------ item 11: malformed segments
def test_a_failed_segment_scan_is_a_named_validation_failure(emu: Emulator, stack: DeployedStack) -> None:
    def hook(function_name: str, event: Any) -> None:
        if (
            isinstance(event, dict)
            and event.get("action") == "scan_segment"
            and event["segment"]["segment"] == 1
        ):
            raise AccessDenied("injected: segment 1 cannot be scanned")

    emu.router.fault_hook = hook
    result = run(emu, stack, {**LATEST, "cutover": "automatic", "validation": {"segments": 3}}, "bad-seg")
    emu.router.fault_hook = None
    assert result["status"] == "FAILED"
    assert result["error"] in {
        "RestoreValidationFailed",
        "States.ExceedToleratedFailureThreshold",
        "AccessDenied",
    }
    assert result["error"] != "TypeError"
    assert live_table(emu, stack, "customers") == "customers", "no cutover"


# ------------------------------------------------------------------ item 14: empty and small restores
def _empty_then_loaded(emu: Emulator, before: int, after: int) -> tuple[DeployedStack, str]:
    make_table(emu, "customers", count=before)
    stack = deploy(emu, "customers")
    point = mark()
    load_customers(emu.clients.session_resource("dynamodb").Table("customers"), after, seed=99)
    return stack, point.isoformat()


@pytest.mark.parametrize(("before", "after"), [(0, 30), (4, 36)])
def test_automatic_cutover_refuses_an_empty_or_far_smaller_restore(
    emu: Emulator, before: int, after: int
) -> None:
    stack, point = _empty_then_loaded(emu, before, after)
    request = {"tables": [{"logical": "customers"}], "restore_time": point, "cutover": "automatic"}
    result = run(emu, stack, request, "too-small")
    assert result["status"] == "FAILED" and result["error"] == "RestoreValidationFailed", result.get("cause")
    assert "no automatic cutover" in result["cause"]
    assert live_table(emu, stack, "customers") == "customers"


def test_an_empty_restore_cuts_over_only_when_allowed(emu: Emulator) -> None:
    make_table(emu, "customers", count=0)
    stack = deploy(emu, "customers")
    result = run(
        emu, stack, {**LATEST, "cutover": "automatic", "validation": {"allow_empty": True}}, "empty-ok"
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")


def test_the_approval_request_shows_what_was_validated(emu: Emulator) -> None:
    stack, point = _empty_then_loaded(emu, 4, 36)
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    request = {"tables": [{"logical": "customers"}], "restore_time": point, "cutover": "approval"}
    arn = start(emu, stack, request, "show-me")
    token = wait_for_token(emu, "show-me")
    [note] = [m for m in messages(emu, queue) if m["Subject"].startswith("dynamodb-dr: approve")]
    body = note["Message"]
    assert "items: restored 4, source reports 40" in body
    assert "checksum: " in body and "settings re-applied: " in body and "CDC archive sample" in body
    assert "WARNING: 4 items, under 0.5 x the source's reported 40" in body
    emu.clients.client("stepfunctions").send_task_failure(
        taskToken=token, error="ApprovalRejected", cause="no"
    )
    assert wait(emu, arn)["status"] == "FAILED"
    assert live_table(emu, stack, "customers") == "customers"


def test_scan_source_is_untouched(emu: Emulator, stack: DeployedStack) -> None:
    before = scan(emu, "customers")
    run(emu, stack, {**LATEST, "cutover": "none"}, "untouched")
    assert scan(emu, "customers") == before
