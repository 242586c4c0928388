"""Issue 21 items 4-5: rehearsals have no side effects and leave nothing behind, and they stay
within the account's restore quota while an operator's restore takes precedence."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import invoke
from restore_support import deploy, invocations_of, make_table, run, start, table_names, wait, wait_for_token

from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator, pitr

pytestmark = pytest.mark.integration
ACCOUNT_RESTORE_QUOTA = 50  # concurrent restores per account and region (AWS default)


def tick(task: str, n: int) -> dict[str, Any]:
    return {"task": task, "scheduled_time": f"2026-11-{n + 1:02d}T04:00:00Z"}


def rehearsal(emu: Emulator, stack: DeployedStack, event: dict[str, Any]) -> dict[str, Any]:
    payload, errored = invoke(emu, stack.physical("RehearsalFunction"), event)
    assert not errored, payload
    return payload


def settle(emu: Emulator, stack: DeployedStack, timeout: float = 300) -> None:
    """Wait until no restore execution runs (they run in the emulator's background threads)."""
    sfn, arn = emu.clients.client("stepfunctions"), stack.outputs["RestoreStateMachineArn"]
    deadline = time.monotonic() + timeout
    while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline, "executions still running"
        time.sleep(0.1)


def side_effects(emu: Emulator, source: str) -> None:
    """A production table's own alarm (paging on-call) and autoscaling target."""
    sns = emu.clients.client("sns")
    pager = sns.create_topic(Name="on-call-pager")["TopicArn"]
    emu.clients.client("cloudwatch").put_metric_alarm(
        AlarmName=f"{source}-throttles",
        Namespace="AWS/DynamoDB",
        MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": source}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[pager],
    )
    emu.clients.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{source}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=1,
        MaxCapacity=10,
    )


def residue(emu: Emulator) -> dict[str, list[str]]:
    alarms = [a["AlarmName"] for a in emu.clients.client("cloudwatch").describe_alarms()["MetricAlarms"]]
    targets = emu.clients.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="dynamodb"
    )
    return {
        "tables": sorted(t for t in table_names(emu) if "-dr-" in t and not t.startswith("dynamodb-dr-")),
        "alarms": sorted(a for a in alarms if "-dr-" in a),
        "scalable_targets": sorted(
            t["ResourceId"] for t in targets["ScalableTargets"] if "-dr-" in t["ResourceId"]
        ),
    }


def test_many_rehearsals_apply_only_what_they_measure_and_leave_nothing(emu: Emulator) -> None:
    for name in ("customers", "orders"):
        make_table(emu, name, count=10)
        side_effects(emu, name)
    stack = deploy(emu, "customers", "orders")
    for n in range(3):
        started = rehearsal(emu, stack, tick("rehearse", n))
        assert sorted(started["started"]) == ["customers", "orders"]
        settle(emu, stack)
        done = rehearsal(emu, stack, tick("follow_up", n))
        assert [f["status"] for f in done["finished"]] == ["SUCCEEDED", "SUCCEEDED"], done
        assert [f["cleanup"] for f in done["finished"]] == ["deleted", "deleted"]
    skipped = [i.result["tables"][0]["skipped"] for i in invocations_of(emu, "reapply_settings")]
    assert skipped and all({"alarms", "autoscaling", "kinesis_destinations"} <= set(s) for s in skipped)
    assert residue(emu) == {"tables": [], "alarms": [], "scalable_targets": []}


def test_a_failed_restore_deleted_on_failure_takes_its_alarm_copies_and_targets_along(emu: Emulator) -> None:
    make_table(emu, "customers", count=10)
    side_effects(emu, "customers")
    stack = deploy(emu, "customers")
    request = {
        "tables": [{"logical": "customers"}],
        "use_latest": True,
        "cutover": "automatic",
        "on_failure": "delete",
        "validation": {"expected": {"customers": {"item_count": 999}}},
    }
    result = run(emu, stack, request, "doomed")
    assert result["status"] == "FAILED" and result["error"] == "RestoreValidationFailed"
    applied = [i.result["tables"][0]["applied"] for i in invocations_of(emu, "reapply_settings")]
    assert "alarms" in applied[0] and "autoscaling" in applied[0], "an operator's restore does copy them"
    assert residue(emu) == {"tables": [], "alarms": [], "scalable_targets": []}


@pytest.fixture
def restore_quota(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """DynamoDB's concurrent-restore quota, which moto does not have: a restore started while 50
    are still CREATING is refused with LimitExceededException."""
    from moto.core.exceptions import JsonRESTError

    seen = {"most": 0, "most_rehearsals": 0, "refused": 0}
    original = pitr.restore

    def limited(backend: Any, body: dict[str, Any]) -> Any:
        creating = [t for t in backend.tables.values() if t.__dict__.get(pitr.CREATING_ATTR)]
        rehearsing = [t for t in creating if "-dr-rehearsal-" in t.name]
        if len(creating) >= ACCOUNT_RESTORE_QUOTA:
            seen["refused"] += 1
            raise JsonRESTError("LimitExceededException", "too many concurrent restores")
        seen["most"] = max(seen["most"], len(creating) + 1)
        if "-dr-rehearsal-" in body["TargetTableName"]:
            seen["most_rehearsals"] = max(seen["most_rehearsals"], len(rehearsing) + 1)
        return original(backend, body)

    monkeypatch.setattr(pitr, "restore", limited)
    return seen


def test_sixty_tables_rehearse_within_the_quota_while_an_operator_restore_starts(
    emu: Emulator, restore_quota: dict[str, int]
) -> None:
    names = [f"app{i:02}" for i in range(60)]
    ddb = emu.clients.client("dynamodb")
    for name in names:
        create_customers_table(ddb, name)
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    stack = emu.deploy(parameters={"ProtectedTables": ",".join(names)})
    pitr.CONTROL.creating_describes = 6  # restores stay CREATING for a few polls
    first = rehearsal(emu, stack, tick("rehearse", 0))
    assert len(first["started"]) == 10 and len(first["queued"]) == 50  # RehearsalMaxConcurrent
    # An operator's restore starts while the rehearsals restore, and takes precedence.
    operator = start(emu, stack, {"tables": [{"logical": "app00"}], "use_latest": True}, "operator")
    token = wait_for_token(emu, "operator")  # restored and validated: waiting for approval
    settle_rehearsals(emu, stack)
    held = rehearsal(emu, stack, tick("follow_up", 0))
    assert held["started"] == [], "no rehearsal starts while an operator's restore runs"
    emu.clients.client("stepfunctions").send_task_failure(
        taskToken=token, error="ApprovalRejected", cause="t"
    )
    assert wait(emu, operator)["status"] == "FAILED"
    finished = len(held["finished"])
    for n in range(1, 12):
        more = rehearsal(emu, stack, tick("follow_up", n))
        finished += len(more["finished"])
        if finished == 60 and not more["queued"]:
            break
        settle(emu, stack)
    assert finished == 60
    assert restore_quota["most_rehearsals"] <= 10
    assert restore_quota["most"] <= ACCOUNT_RESTORE_QUOTA and restore_quota["refused"] == 0
    assert [t for t in table_names(emu) if "-dr-rehearsal-" in t] == []


def settle_rehearsals(emu: Emulator, stack: DeployedStack, timeout: float = 300) -> None:
    """Wait until every rehearsal execution ended (the operator's waits for approval)."""
    sfn, arn = emu.clients.client("stepfunctions"), stack.outputs["RestoreStateMachineArn"]
    deadline = time.monotonic() + timeout
    while any(
        e["name"].startswith("rehearsal-")
        for e in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    ):
        assert time.monotonic() < deadline, "rehearsals still running"
        time.sleep(0.1)
