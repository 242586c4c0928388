"""The restore state machine definition and its template wiring, checked statically."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from asl_support import TRANSIENT, scopes, transition_targets
from template_support import cfn

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.stack import load_sam_template

ASL = PROJECT_ROOT / "statemachines" / "restore.asl.json"


@cache
def definition() -> dict[str, Any]:
    return dict(json.loads(ASL.read_text()))


def all_states() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], bool]]:
    for machine, covered in scopes(definition()):
        for name, state in machine["States"].items():
            yield name, state, machine["States"], covered


def test_every_substitution_is_provided_and_used() -> None:
    text = ASL.read_text()
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    machine = load_sam_template()["Resources"]["RestoreStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "statemachines/restore.asl.json"
    assert used == set(machine["DefinitionSubstitutions"])


def test_every_transition_exists_and_every_state_is_reachable() -> None:
    for machine, _ in scopes(definition()):
        states = machine["States"]
        assert machine["StartAt"] in states
        targets = transition_targets(machine)
        for name, state in states.items():
            terminal = state["Type"] in {"Succeed", "Fail"} or state.get("End")
            assert terminal or state.get("Next") or state["Type"] == "Choice", name
        assert targets == set(states), f"unreachable: {set(states) - targets}"


def _best_effort(state: dict[str, Any]) -> bool:
    """A task whose failure changes nothing: its Catch goes on to its own Next."""
    return bool(state.get("Catch")) and all(c["Next"] == state.get("Next") for c in state["Catch"])


def test_every_task_retries_transient_errors_only_and_is_caught() -> None:
    tasks = [(n, s, covered) for n, s, _, covered in all_states() if s["Type"] == "Task"]
    assert len(tasks) >= 10
    for name, state, covered in tasks:
        assert state.get("Retry"), name
        for retrier in state["Retry"]:
            if retrier["ErrorEquals"] == ["LimitExceeded"]:  # a quota: retried with a long backoff
                assert name == "StartRestores" and retrier["IntervalSeconds"] >= 30
            elif not _best_effort(state):
                assert set(retrier["ErrorEquals"]) <= TRANSIENT, f"{name} retries non-transient errors"
            assert retrier["MaxAttempts"] <= 5
        assert state.get("Catch") or covered, f"{name} has no Catch"
        for catcher in state.get("Catch", []):
            if _best_effort(state):
                continue
            if catcher["ResultPath"] == "$":  # the input is dropped: the next state keeps only the error
                wrapper = definition()["States"][catcher["Next"]]
                assert wrapper["Type"] == "Pass" and wrapper["Parameters"] == {"error.$": "$"}, name
                continue
            assert catcher["ResultPath"].startswith("$.")  # keeps the state for the failure path


def test_every_failure_goes_through_the_notifying_handler() -> None:
    states = definition()["States"]
    for name, state in states.items():
        if _best_effort(state):
            continue
        for catcher in state.get("Catch", []):
            target = states[catcher["Next"]]
            if name == "HandleFailure":
                assert catcher["Next"] == "Failed"
            elif target["Type"] == "Pass":  # a refused request: the error alone goes on
                assert target["Next"] == "HandleFailure", name
            elif target["Type"] == "Choice":  # after the pointers moved nothing is handled as a failure
                assert target["Default"] == "HandleFailure", name
            else:
                assert catcher["Next"] == "HandleFailure", name
    assert states["HandleFailure"]["Parameters"]["Payload"]["action"] == "fail"
    assert states["Failed"]["Type"] == "Fail"


def test_a_failed_report_after_the_pointers_moved_succeeds_saying_so() -> None:
    states = definition()["States"]
    [catcher] = states["Report"]["Catch"]
    moved = states[catcher["Next"]]
    assert moved["Type"] == "Choice" and moved["Default"] == "HandleFailure"
    record = states[moved["Choices"][0]["Next"]]
    assert record["Resource"] == "arn:aws:states:::aws-sdk:cloudwatch:putMetricData"
    assert record["Parameters"]["MetricData"][0]["MetricName"] == "RestoreAfterCutoverProblems"
    outcomes = [states[c["Next"]] for c in states[record["Next"]]["Choices"]]
    outcomes.append(states[states[record["Next"]]["Default"]])
    for outcome in outcomes:
        assert outcome["Next"] == "Done" and "reporting failed" in outcome["Parameters"]["report"]["outcome"]


def test_task_results_are_selected_to_keep_state_small() -> None:
    metric_task = "arn:aws:states:::aws-sdk:cloudwatch:putMetricData"
    for name, state, _, _ in all_states():
        if state["Type"] != "Task" or state["Resource"].endswith(".waitForTaskToken"):
            continue
        assert "ResultSelector" in state or state.get("ResultPath") is None, name
        assert state["Resource"].startswith("arn:aws:states:::lambda:invoke") or (
            state["Resource"] == metric_task and state["ResultPath"] is None
        ), name


def test_poll_loop_is_bounded_and_jsonpath_only() -> None:
    states = definition()["States"]
    assert "QueryLanguage" not in definition() or definition()["QueryLanguage"] == "JSONPath"
    assert states["WaitForRestores"]["SecondsPath"] == "$.poll.wait_seconds"  # grows with time waited
    assert states["WaitForRestores"]["Next"] == "CheckRestores"
    assert states["RequestApproval"]["TimeoutSeconds"] <= 7 * 86400
    scan = states["ScanSegments"]
    assert scan["Type"] == "Map" and scan["MaxConcurrency"] >= 8
    assert scan["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def test_distributed_map_may_start_only_its_own_children() -> None:
    role = cfn()["Resources"]["RestoreStateMachineRole"]
    starts = [s for s in _statements(role) if "states:StartExecution" in _as_list(s["Action"])]
    assert len(starts) == 1
    own = (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-restore"
    )
    assert starts[0]["Resource"] == {"Fn::Sub": own}
    machine = cfn()["Resources"]["RestoreStateMachine"]["Properties"]
    assert machine["StateMachineName"] == {"Fn::Sub": "${AWS::StackName}-restore"}


def test_state_machine_is_standard_traced_and_logs_to_an_encrypted_group() -> None:
    resources = cfn()["Resources"]
    machine = resources["RestoreStateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    group_ref = machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    group = resources[group_ref["Fn::GetAtt"][0]]["Properties"]
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:  # a statement present only under a condition: check both sides
                yield from (s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Effect" in s)
            else:
                yield statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_only_the_pointer_function_can_write_live_table_pointers() -> None:
    writers = set()
    for name, resource in cfn()["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in _statements(resource):
            actions = _as_list(statement["Action"])
            if statement["Effect"] == "Allow" and any(
                a in {"*", "ssm:*", "ssm:Put*", "ssm:PutParameter"} for a in actions
            ):
                resources = json.dumps(statement["Resource"])
                if statement["Resource"] == "*" or "parameter/dynamodb-dr" in resources:
                    writers.add(name)
    assert writers == {"RestorePointerFunctionRole"}


def test_restore_roles_mutate_nothing_on_star() -> None:
    read_or_delivery = re.compile(r"^(application-autoscaling:Describe|kinesis:List|lambda:List|logs:|xray:)")
    for name in ("RestoreFunctionRole", "RestorePointerFunctionRole", "RestoreStateMachineRole"):
        for statement in _statements(cfn()["Resources"][name]):
            if statement["Resource"] == "*":
                for action in _as_list(statement["Action"]):
                    if action == "cloudwatch:PutMetricData":  # scoped to the tool's namespace
                        namespace = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
                        assert namespace == {"Fn::Sub": "DynamoDBDR/${AWS::StackName}"}, name
                        continue
                    assert read_or_delivery.match(action), f"{name}: {action} on *"


def test_scan_parallelism_is_bounded_by_the_map_not_by_reserved_concurrency() -> None:
    """A reservation can fail a deploy (new accounts have a quota of 10-50 and Lambda keeps 100
    unreserved); the Map's MaxConcurrency bounds the restore function's concurrency instead."""
    reserved = cfn()["Resources"]["RestoreFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved["Fn::If"][0] == "ReserveConcurrencyOn" and reserved["Fn::If"][2] == {
        "Ref": "AWS::NoValue"
    }
    maximum = definition()["States"]["ScanSegments"]["MaxConcurrency"]
    assert 1 <= maximum <= 40 and maximum < reserved["Fn::If"][1]  # with the opt-in reservation too
