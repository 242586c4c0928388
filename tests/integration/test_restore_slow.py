"""Issue 19 on the emulator with restores made slow (restored tables stay CREATING for a number of
describes): missing the RTO alarms once and the run goes on to a validated cutover; the growing
poll keeps the history bounded up to the hard limit; a timed-out run is resumed without a second
restore; the plan states its expected durations before anything starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from restore_support import (
    deploy,
    invocations_of,
    live_table,
    make_table,
    messages,
    run,
    start,
    states_entered,
    subscribe_queue,
    table_names,
    wait,
)

from dynamodb_dr.posture.rto_history import RehearsalRecord, RtoHistoryStore
from dynamodb_dr.restore.models import PollPlan
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

pytestmark = pytest.mark.integration
AUTOMATIC = {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"}


@pytest.fixture
def stack(emu: Emulator) -> DeployedStack:
    make_table(emu, "customers")
    return deploy(emu, "customers")


def set_rto(emu: Emulator, stack: DeployedStack, minutes: int) -> None:
    emu.clients.client("ssm").put_parameter(
        Name=stack.physical("PolicyParameter"),
        Value=json.dumps({"tables": {"customers": {"rto_minutes": minutes}}}),
        Type="String",
        Overwrite=True,
    )


def results(emu: Emulator, action: str, execution: str | None = None) -> list[dict[str, Any]]:
    return [
        i.result
        for i in invocations_of(emu, action)
        if execution is None or i.event.get("plan", {}).get("execution") == execution
    ]


def history_events(emu: Emulator, arn: str) -> int:
    sfn = emu.clients.client("stepfunctions")
    count, request = 0, {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        count += len(page["events"])
        if not page.get("nextToken"):
            return count
        request["nextToken"] = page["nextToken"]


def test_missing_the_rto_alarms_once_and_the_restore_goes_on_to_a_validated_cutover(
    emu: Emulator, stack: DeployedStack
) -> None:
    set_rto(emu, stack, 10)  # the alert point: 10 min - validation (~1 min) - finishing (5 min)
    queue = subscribe_queue(emu, stack.outputs["RestoreTopicArn"])
    CONTROL.creating_describes = 16  # the restore takes ~15 polls of simulated time
    arn = start(emu, stack, {**AUTOMATIC, "validation": {"min_items": 40}}, "slow")
    result = wait(emu, arn)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    assert output["outcome"] == "cut over"
    assert live_table(emu, stack, "customers") == output["tables"][0]["restored"]
    notes = [m for m in messages(emu, queue) if "RTO will be missed" in m["Subject"]]
    assert len(notes) == 1
    news = json.loads(notes[0]["Message"])
    assert news["statuses"] == {output["tables"][0]["restored"]: "CREATING"}
    assert news["restoring_for_minutes"] >= 4
    assert states_entered(emu, arn).count("RtoObjectiveMissed") == 1
    checks = results(emu, "check_restore")
    assert sum(1 for c in checks if c["rto_missed_now"]) == 1
    logs = [i.logs for i in invocations_of(emu, "check_restore")]
    assert sum('"RestoreRtoMissed"' in log for log in logs) == 1, "one metric for the alarm"
    waits = [c["wait_seconds"] for c in checks if not c["all_active"]]
    assert waits[0] == 30 and waits[-1] > 30 and waits == sorted(waits), waits


@pytest.mark.parametrize("minutes", [None, 10080])  # the stack's 24 h default; the 7-day maximum
def test_the_growing_poll_keeps_the_history_bounded_up_to_the_hard_limit(
    emu: Emulator, stack: DeployedStack, minutes: int | None
) -> None:
    CONTROL.creating_describes = -1  # never finishes
    request = {**AUTOMATIC, **({"restore_timeout_minutes": minutes} if minutes else {})}
    arn = start(emu, stack, request, "forever")
    result = wait(emu, arn, timeout=900)
    assert result["status"] == "FAILED" and result["error"] == "RestoreTimedOut", result.get("cause")
    checks = [r for r in results(emu, "check_restore") if "errorType" not in r]
    expected = PollPlan(limit_seconds=(minutes or 24 * 60) * 60)
    elapsed, polls = 0.0, 1
    while elapsed < expected.limit_seconds:
        elapsed += expected.next_wait(elapsed)
        polls += 1
    assert len(checks) == polls - 1  # the last check raised RestoreTimedOut (no result)
    events = history_events(emu, arn)
    assert events < 12_500, events  # half of Step Functions' 25,000
    assert states_entered(emu, arn).count("RtoObjectiveMissed") == 1
    restored = [t for t in table_names(emu) if t.startswith("customers-dr-")]
    assert len(restored) == 1, "the table is kept for a resume"


def test_a_timed_out_restore_is_resumed_without_a_second_restore(emu: Emulator, stack: DeployedStack) -> None:
    CONTROL.creating_describes = 12  # outlasts a 1-minute limit, then becomes ACTIVE
    first = run(emu, stack, {**AUTOMATIC, "restore_timeout_minutes": 1, "on_failure": "delete"}, "timed-out")
    assert first["status"] == "FAILED" and first["error"] == "RestoreTimedOut"
    [target] = [t for t in table_names(emu) if t.startswith("customers-dr-")]
    assert len(CONTROL.restores) == 1
    resumed = run(emu, stack, {"resume": {"execution": "timed-out"}, "cutover": "automatic"}, "resumed")
    assert resumed["status"] == "SUCCEEDED", resumed.get("cause")
    output = json.loads(resumed["output"])
    assert output["tables"][0]["restored"] == target
    assert live_table(emu, stack, "customers") == target
    assert len(CONTROL.restores) == 1, "no second restore"
    assert "StartRestores" not in states_entered(emu, resumed["executionArn"])
    # a resumed run cannot be resumed again once it cut over
    again = run(emu, stack, {"resume": {"execution": "resumed"}}, "again")
    assert again["status"] == "FAILED" and again["error"] == "RestoreRequestInvalid"


@pytest.mark.parametrize("case", ["unknown", "running", "cut-over", "table-gone"])
def test_a_resume_is_refused_when_it_would_not_be_safe(
    emu: Emulator, stack: DeployedStack, case: str
) -> None:
    name = "original"
    if case == "running":
        CONTROL.creating_describes = -1
        start(emu, stack, AUTOMATIC, name)
    elif case == "cut-over":
        assert run(emu, stack, AUTOMATIC, name)["status"] == "SUCCEEDED"
    elif case == "table-gone":
        CONTROL.creating_describes = 12
        run(emu, stack, {**AUTOMATIC, "restore_timeout_minutes": 1}, name)
        [target] = [t for t in table_names(emu) if t.startswith("customers-dr-")]
        emu.clients.client("dynamodb").delete_table(TableName=target)
    result = run(emu, stack, {"resume": {"execution": "never-ran" if case == "unknown" else name}}, "resume")
    assert result["status"] == "FAILED" and result["error"] == "RestoreRequestInvalid", case
    assert len(CONTROL.restores) <= 1


def test_the_plan_states_expected_durations_and_whether_they_fit_the_rto(
    emu: Emulator, stack: DeployedStack
) -> None:
    assert run(emu, stack, {**AUTOMATIC, "cutover": "none"}, "plain")["status"] == "SUCCEEDED"
    [plan] = [r for r in results(emu, "validate") if r.get("execution") == "plain"]
    estimate = plan["estimate"]
    assert estimate["fits_rto"] is True and estimate["rto_seconds"] == 3600
    assert estimate["tables"][0]["basis"].startswith("size")
    assert estimate["tables"][0]["size_bytes"] is not None
    # a rehearsal that took 90 minutes says the 60-minute RTO will not be met
    store = RtoHistoryStore(emu.clients.client("dynamodb"), stack.outputs["StateTableName"])
    store.save(
        RehearsalRecord(
            logical_name="customers",
            tick="20261101T040000Z",
            execution_name="rehearsal-customers-20261101T040000Z",
            target="customers-dr-rehearsal-20261101040000",
            status="SUCCEEDED",
            started_at=datetime(2026, 11, 1, 4, tzinfo=UTC),
            measured_seconds=5400.0,
            cleanup="deleted",
        )
    )
    assert run(emu, stack, {**AUTOMATIC, "cutover": "none"}, "rehearsed")["status"] == "SUCCEEDED"
    [plan] = [r for r in results(emu, "validate") if r.get("execution") == "rehearsed"]
    assert plan["estimate"]["fits_rto"] is False
    assert plan["estimate"]["restore_seconds"] == 5400
    assert plan["estimate"]["tables"][0]["basis"].startswith("rehearsal 20261101T040000Z")
    # the alarm still comes when restores outlast the point after which the RTO cannot be met
    assert plan["poll"]["rto_alert_seconds"] == 3600 - plan["estimate"]["validation_seconds"] - 300
