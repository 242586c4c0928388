"""Retry gate for the restore state machine: every Lambda step of a restore, of its failure path
and of a rollback is run again after a lost response (the step did its work, Step Functions saw a
Lambda service error and retried it). The outcome is the same as a clean run's: same status and
outcome, one restored table holding the same data, the same pointers and cutover record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from gates import report_gate
from security_support import deploy, run_execution, scan_all

from dynamodb_dr.core import paths
from dynamodb_dr.restore.checksum import checksum_of
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration

RESTORE_STEPS = [
    "validate",
    "start_restore",
    "check_restore",
    "reapply_settings",
    "diff_settings",
    "plan_validation",
    "scan_segment",
    "compare",
    "catch_up",
    "request_approval",
    "cutover",
    "fence",
    "carry_over",
    "report",
]
REQUEST = {
    "tables": [{"logical": "customers"}],
    "use_latest": True,
    "cutover": "approval",
    "catch_up": True,
    "validation": {"segments": 2},
}


@contextmanager
def lose_response(emulator: Emulator, action: str, times: int = 1) -> Iterator[list[str]]:
    """The first `times` invocations of `action` do their work, then their response is lost."""
    router = emulator.router
    original = router.invoke
    lost: list[str] = []

    def invoke(function: Any, event_json: Any) -> tuple[str, bool, str]:
        payload, errored, logs = original(function, event_json)
        event = json.loads(event_json) if isinstance(event_json, str | bytes) else (event_json or {})
        if isinstance(event, dict) and event.get("action") == action and not errored and len(lost) < times:
            lost.append(action)
            error = {"errorType": "Lambda.ServiceException", "errorMessage": "injected: response lost"}
            return json.dumps(error), True, logs
        return payload, errored, logs

    router.invoke = invoke  # type: ignore[method-assign]
    try:
        yield lost
    finally:
        router.invoke = original  # type: ignore[method-assign]


def _ready(emulator: Emulator) -> tuple[DeployedStack, list[dict[str, Any]]]:
    create_customers_table(emulator.clients.client("dynamodb"), "customers")
    load_customers(emulator.clients.session_resource("dynamodb").Table("customers"), 30, seed=5)
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return deploy(emulator, "customers"), scan_all(emulator, "customers")


def _pointer(emulator: Emulator, stack: DeployedStack) -> str | None:
    ssm = emulator.clients.client("ssm")
    try:
        name = paths.live_table_parameter(paths.stack_prefix(stack.name), "customers")
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def _record(emulator: Emulator, stack: DeployedStack, execution: str) -> str | None:
    item = (
        emulator.clients.client("dynamodb")
        .get_item(
            TableName=stack.outputs["StateTableName"],
            Key={"pk": {"S": f"RESTORE#{execution}"}, "sk": {"S": "CUTOVER"}},
        )
        .get("Item")
    )
    return item["status"]["S"] if item else None


def _outcome(emulator: Emulator, stack: DeployedStack, arn: str, execution: str) -> dict[str, Any]:
    described = emulator.clients.client("stepfunctions").describe_execution(executionArn=arn)
    output = json.loads(described.get("output") or "{}")
    restored = sorted(
        t
        for t in emulator.clients.client("dynamodb").list_tables()["TableNames"]
        if t.startswith("customers-dr-")
    )
    pointer = _pointer(emulator, stack)
    return {
        "status": described["status"],
        "error": described.get("error"),
        "outcome": output.get("outcome"),
        "cutover": (output.get("cutover") or output.get("rollback") or {}).get("status"),
        "restored_tables": len(restored),
        "pointer_is_restored_table": bool(pointer and pointer in restored),
        "pointer": None if pointer and pointer in restored else pointer,
        # every restored table holds exactly the source's items (the source never changes here)
        "restored_as_source": all(_items(emulator, t) == _items(emulator, "customers") for t in restored),
        "record": _record(emulator, stack, execution),
    }


def _items(emulator: Emulator, table: str) -> tuple[int, str]:
    items = scan_all(emulator, table)
    return len(items), checksum_of(items)  # canonical: set members in any order


def _restore(emulator: Emulator, stack: DeployedStack, request: dict[str, Any], name: str) -> dict[str, Any]:
    arn = run_execution(emulator, stack.physical("RestoreStateMachine"), name, json.dumps(request))
    return _outcome(emulator, stack, arn, name)


@pytest.fixture(scope="module")
def clean_run() -> dict[str, Any]:
    with Emulator() as emulator:
        stack, _ = _ready(emulator)
        return _restore(emulator, stack, REQUEST, "run")


@pytest.mark.parametrize("action", RESTORE_STEPS)
def test_every_restore_step_survives_a_lost_response(
    request: pytest.FixtureRequest, clean_run: dict[str, Any], action: str
) -> None:
    with Emulator() as emulator:
        stack, source = _ready(emulator)
        with lose_response(emulator, action) as lost:
            outcome = _restore(emulator, stack, REQUEST, "run")
        assert lost == [action], f"{action} was never run"
        assert outcome == clean_run, action
        assert clean_run["status"] == "SUCCEEDED" and clean_run["outcome"] == "cut over"
        assert scan_all(emulator, "customers") == source
    report_gate(request, f"retries: restore step {action}", "lost response, same outcome")


def test_the_failure_path_survives_a_lost_response(request: pytest.FixtureRequest) -> None:
    failing = {
        **REQUEST,
        "cutover": "automatic",
        "validation": {"expected": {"customers": {"item_count": 99}}},
    }
    outcomes = []
    for lose in (False, True):
        with Emulator() as emulator:
            stack, _ = _ready(emulator)
            if lose:
                with lose_response(emulator, "fail") as lost:
                    outcomes.append(_restore(emulator, stack, failing, "bad"))
                assert lost == ["fail"]
            else:
                outcomes.append(_restore(emulator, stack, failing, "bad"))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["status"] == "FAILED" and outcomes[0]["error"] == "RestoreValidationFailed"
    assert outcomes[0]["restored_tables"] == 1 and outcomes[0]["pointer"] is None
    report_gate(request, "retries: restore failure path", "lost response, same outcome")


@pytest.mark.parametrize("action", ["validate", "rollback", "report"])
def test_every_rollback_step_survives_a_lost_response(request: pytest.FixtureRequest, action: str) -> None:
    outcomes = []
    for lose in (False, True):
        with Emulator() as emulator:
            stack, _ = _ready(emulator)
            restored = _restore(emulator, stack, {**REQUEST, "cutover": "automatic"}, "restore")
            assert restored["pointer_is_restored_table"]
            if lose:
                with lose_response(emulator, action) as lost:
                    outcomes.append(_restore(emulator, stack, {"rollback": {"execution": "restore"}}, "undo"))
                assert lost == [action]
            else:
                outcomes.append(_restore(emulator, stack, {"rollback": {"execution": "restore"}}, "undo"))
            assert _record(emulator, stack, "restore") == "ROLLED_BACK"
    assert outcomes[0] == outcomes[1], action
    assert outcomes[0]["status"] == "SUCCEEDED" and outcomes[0]["cutover"] == "rolled-back"
    assert outcomes[0]["pointer"] is None and not outcomes[0]["pointer_is_restored_table"]
    report_gate(request, f"retries: rollback step {action}", "lost response, same outcome")
