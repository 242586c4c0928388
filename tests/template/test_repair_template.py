"""The repair state machine definition and its resources in the transformed template."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import security_checks as sc
from asl_support import TRANSIENT, scopes, transition_targets
from template_support import PARAMETERS, cfn, statements

from dynamodb_dr.repair import steps
from dynamodb_dr.repair.models import RepairSettings
from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.stack import load_sam_template

ASL = PROJECT_ROOT / "statemachines" / "repair.asl.json"
# A lane resumes from its checkpoint: its own failures (writes that kept failing, a timeout) are
# worth a retry too.
LANE_RESUMABLE = {"RepairApplyFailed", "Sandbox.Timedout", "States.Timeout"}


@cache
def definition() -> dict[str, Any]:
    return dict(json.loads(ASL.read_text()))


def actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])


def test_every_substitution_is_provided_and_every_state_reachable() -> None:
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL.read_text()))
    machine = load_sam_template()["Resources"]["RepairStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "statemachines/repair.asl.json"
    assert used == set(machine["DefinitionSubstitutions"]) == {"RepairFunctionArn"}
    for scope, _ in scopes(definition()):
        states = scope["States"]
        targets = transition_targets(scope)
        for name, state in states.items():
            assert state["Type"] in {"Succeed", "Fail", "Choice"} or state.get("Next"), name
        assert targets == set(states), f"unreachable: {set(states) - targets}"


def test_every_task_is_selected_retried_for_transient_errors_and_caught() -> None:
    assert "QueryLanguage" not in definition()  # JSONPath: moto's engine and AWS agree on it
    tasks = 0
    for scope, covered in scopes(definition()):
        for name, state in scope["States"].items():
            if state["Type"] != "Task":
                continue
            tasks += 1
            assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
            assert state["Parameters"]["FunctionName"] == "${RepairFunctionArn}"
            assert "ResultSelector" in state, name  # no datetimes or payload noise in the state
            assert state.get("Catch") or covered, name
            for catcher in state.get("Catch", []):
                assert catcher["ResultPath"] == "$.error" or name == "HandleFailure"
                assert catcher["Next"] == ("Failed" if name == "HandleFailure" else "HandleFailure")
            allowed = TRANSIENT | (LANE_RESUMABLE if name == "ApplyLane" else set())
            for retrier in state["Retry"]:
                assert set(retrier["ErrorEquals"]) <= allowed, name
                assert retrier["MaxAttempts"] <= 5
    assert tasks == 7
    states = definition()["States"]
    assert states["ApplyLanes"]["Catch"][0]["Next"] == "HandleFailure"
    assert states["HandleFailure"]["Parameters"]["Payload"]["action"] == "fail"
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    actions_used = {
        s["Parameters"]["Payload"]["action"]
        for scope, _ in scopes(definition())
        for s in scope["States"].values()
        if s["Type"] == "Task"
    }
    assert actions_used == set(steps.ACTIONS)


def test_nothing_is_written_before_the_plan_and_the_backup() -> None:
    states = definition()["States"]
    assert definition()["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "WillApply"
    choices = {c["Variable"]: c["Next"] for c in states["WillApply"]["Choices"]}
    assert choices == {"$.plan.dry_run": "Report", "$.plan.stored": "Report"}
    assert states["WillApply"]["Default"] == "Backup"
    assert states["BackupReady"]["Choices"][0]["Next"] == "SettleBackup"
    assert states["SettleBackup"] == {
        **states["SettleBackup"],
        "Type": "Wait",
        "SecondsPath": "$.backup.settle_seconds",
        "Next": "ApplyLanes",
    }
    assert RepairSettings.model_fields["backup_settle_seconds"].default >= 60  # AWS: a minute


def test_loops_are_bounded() -> None:
    states = definition()["States"]
    assert (
        states["WaitForBackup"]["Next"] == "CheckBackup"
        and steps.BACKUP_CHECKS * states["WaitForBackup"]["Seconds"] <= 3600
    )
    assert (
        states["WaitForArchive"]["Next"] == "Prove"
        and steps.PROOF_ATTEMPTS * states["WaitForArchive"]["Seconds"] <= 600
    )
    lanes = states["ApplyLanes"]
    assert lanes["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert lanes["MaxConcurrency"] >= RepairSettings.model_fields["repair_lanes"].metadata[1].le  # type: ignore[attr-defined]
    assert definition()["TimeoutSeconds"] <= 86400
    # Only small values cross into each lane: never the plan's keys.
    assert lanes["ItemSelector"] == {
        "lane.$": "$$.Map.Item.Value",
        "table.$": "$.plan.table",
        "repair_id.$": "$.plan.repair_id",
    }


def test_the_repair_role_writes_only_protected_tables_and_its_own_objects() -> None:
    role = cfn()["Resources"]["RepairFunctionRole"]["Properties"]
    assert all(p["PolicyDocument"].get("Version") == "2012-10-17" for p in role["Policies"])
    granted = statements("RepairFunctionRole")
    resolved = sc.identity_statements(cfn(), sc.intrinsics(cfn(), PARAMETERS))
    [tables] = [
        s
        for s in resolved
        if s.role == "RepairFunctionRole" and s.raw.get("Sid") == "RepairProtectedLiveTables"
    ]
    # every table of this account and region, but only those tagged dynamodb-dr:protect=<stack>
    assert list(tables.resources) == ["arn:aws:dynamodb:us-east-1:123456789012:table/*"]
    assert sc.tag_scoped(tables)
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:CreateBackup"} <= set(tables.actions)
    every = {a for s in granted.values() for a in actions(s)}
    assert not {
        a
        for a in every
        if re.match(r"dynamodb:(DeleteTable|DeleteBackup|UpdateTable|BatchWriteItem|CreateTable|Restore)", a)
    }
    assert {a for a in every if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:ListBucketVersions",
    }
    assert granted["RepairPlansAndCheckpoints"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/repairs/*"}
    assert granted["ReadCdcArchive"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/cdc/*"}
    assert {a for a in every if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage"
    }  # never deletes a gap's record
    assert granted["BackupLedger"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert granted["TableKeysThroughDynamoDbOnly"]["Condition"]["StringEquals"]["kms:ViaService"]
    for statement in granted.values():
        if statement["Resource"] == "*":
            assert actions(statement) == ["dynamodb:ListBackups"]
    assert not [a for a in every if a.startswith("ssm:Put")]


def test_the_machine_invokes_only_the_repair_function_and_alarms_when_it_fails() -> None:
    resources = cfn()["Resources"]
    machine = resources["RepairStateMachine"]["Properties"]
    assert machine["StateMachineName"] == {"Fn::Sub": "${AWS::StackName}-repair"}
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert machine["TracingConfiguration"] == {"Enabled": True}
    role = resources["RepairStateMachineRole"]["Properties"]
    invoked = [
        s
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in actions(s)
    ]
    assert len(invoked) == 1 and "RepairFunction" in json.dumps(invoked[0]["Resource"])
    env = resources["RepairFunction"]["Properties"]["Environment"]["Variables"]
    machine_arn = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
    assert env["REPAIR_STATE_MACHINE_ARN"] == {"Fn::Sub": machine_arn + "${AWS::StackName}-repair"}
    alarm = resources["RepairFailedAlarm"]["Properties"]
    watched = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert resources["RepairTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    outputs = cfn()["Outputs"]
    assert {"RepairStateMachineArn", "RepairTopicArn"} <= set(outputs)
