"""Posture function, alarms, dashboard and rehearsals in the transformed template."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from template_support import cfn

from dynamodb_dr_local.emulator.stack import load_sam_template

TOPIC = {"Ref": "AlarmTopic"}


def resource(logical_id: str) -> dict[str, Any]:
    return dict(cfn()["Resources"][logical_id])


def alarm(logical_id: str) -> dict[str, Any]:
    found = resource(logical_id)
    assert found["Type"] == "AWS::CloudWatch::Alarm"
    return dict(found["Properties"])


def statements(role_id: str) -> list[dict[str, Any]]:
    policies = resource(role_id)["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def metric_of(props: dict[str, Any], metric_id: str) -> dict[str, Any]:
    return next(m for m in props["Metrics"] if m["Id"] == metric_id)


STACK_NAMESPACE = {"Fn::Sub": "DynamoDBDR/${AWS::StackName}"}


# (alarm, posture aggregate metric, threshold, breaching on missing data)
POSTURE_ALARMS = [
    ("RpoAtRiskAlarm", "TablesRpoNotMet", 1),
    ("PitrDisabledAlarm", "TablesPitrDisabled", 1),
    ("PostureCheckFailedAlarm", "PostureCheckFailures", 1),
    ("ExportFailingAlarm", "TablesExportFailing", 1),
    ("RehearsalFailedAlarm", "RehearsalFailures", 1),
]


@pytest.mark.parametrize(("logical_id", "metric", "threshold"), POSTURE_ALARMS)
def test_posture_aggregate_alarms(logical_id, metric, threshold):
    props = alarm(logical_id)
    assert props["Namespace"] == STACK_NAMESPACE  # one namespace per stack: dev never feeds prod
    assert props["MetricName"] == metric
    assert props["Dimensions"] == [{"Name": "service", "Value": "posture"}]
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "breaching"  # no posture reading = we don't know
    assert props["Period"] == 600 and props["EvaluationPeriods"] == 1  # >= 1 reading of a 5-min schedule
    assert props["AlarmActions"] == [TOPIC]
    assert props["OKActions"] == [TOPIC]


@pytest.mark.parametrize(
    ("logical_id", "metric", "objective"),
    [
        ("WorstCaseRpoAlarm", "WorstCaseRpoSeconds", "RpoMinutes"),
        ("RtoAboveObjectiveAlarm", "MeasuredRtoSeconds", "RtoMinutes"),
    ],
)
def test_objective_alarms_take_their_threshold_from_the_parameters(logical_id, metric, objective):
    props = alarm(logical_id)
    assert props["Threshold"] == {"Ref": objective}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "breaching"
    assert props["AlarmActions"] == [TOPIC]
    (returned,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    source_id = returned["Expression"].split("/")[0].strip()
    assert returned["Expression"].replace(" ", "") == f"{source_id}/60"  # seconds -> minutes
    stat = metric_of(props, source_id)["MetricStat"]
    assert stat["Metric"]["MetricName"] == metric
    assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "posture"}]
    assert stat["Stat"] == "Maximum"


def test_backup_failures_alarm_sums_the_backup_functions_per_table_metric():
    props = alarm("BackupFailuresAlarm")
    (query,) = props["Metrics"]
    expression = query["Expression"]["Fn::Sub"]
    assert "SUM(BackupFailures)" in expression
    assert 'SCHEMA("DynamoDBDR/${AWS::StackName}"' in expression
    assert "service = 'backup'" in expression
    assert props["Threshold"] == 1
    assert props["AlarmActions"] == [TOPIC]


def test_cdc_dead_letter_alarm_watches_the_failure_queue():
    props = alarm("CdcDeadLettersAlarm")
    queue = metric_of(props, "queue")["MetricStat"]["Metric"]
    assert queue["Namespace"] == "AWS/SQS"
    assert queue["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CdcFailureQueue", "QueueName"]}}
    ]
    assert metric_of(props, "posture")["MetricStat"]["Metric"]["MetricName"] == "CdcFailures"
    assert props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching"
    assert props["AlarmActions"] == [TOPIC]


def test_restore_failed_alarm_watches_the_restore_state_machine():
    props = alarm("RestoreFailedAlarm")
    names = set()
    for metric in props["Metrics"]:
        if "MetricStat" in metric:
            stat = metric["MetricStat"]["Metric"]
            assert stat["Namespace"] == "AWS/States"
            assert stat["Dimensions"] == [
                {"Name": "StateMachineArn", "Value": {"Ref": "RestoreStateMachine"}}
            ]
            names.add(stat["MetricName"])
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    assert props["Threshold"] == 1
    assert props["AlarmActions"] == [TOPIC]


def test_alarm_topic_is_encrypted_and_email_is_optional():
    assert resource("AlarmTopic")["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key_policy = resource("AlarmTopicKey")["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy)
    assert resource("AlarmEmailSubscription")["Condition"] == "AlarmEmailOn"


def test_posture_function_is_scheduled_read_only_and_logs_encrypted():
    schedule = next(
        r["Properties"]
        for r in cfn()["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
        and r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["PostureFunction", "Arn"]}
    )
    assert schedule["ScheduleExpression"] == {"Ref": "PostureSchedule"}
    assert load_sam_template()["Parameters"]["PostureSchedule"]["Default"] == "rate(5 minutes)"
    fn = resource("PostureFunction")["Properties"]
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "PostureFunctionLogGroup"}
    assert resource("PostureFunctionLogGroup")["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert fn["Environment"]["Variables"]["CDC_FAILURE_QUEUE_URL"] == {"Ref": "CdcFailureQueue"}
    mutating = re.compile(r":(Put|Update|Delete|Create|Restore|Tag|Untag|Start|Send)")
    for statement in statements("PostureFunctionRole"):
        if "Sid" not in statement:  # SAM's own (X-Ray, sending to the dead-letter queue)
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if mutating.search(a)], statement["Sid"]


def test_posture_table_permissions_reach_only_tables_tagged_for_the_stack():
    (read,) = [s for s in statements("PostureFunctionRole") if s.get("Sid") == "ReadProtectedTables"]
    assert read["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"
    }
    assert read["Condition"] == {
        "StringEquals": {"aws:ResourceTag/dynamodb-dr:protect": {"Ref": "AWS::StackName"}}
    }


def test_rehearsal_may_delete_only_rehearsal_scratch_tables():
    (delete,) = [s for s in statements("RehearsalFunctionRole") if "dynamodb:DeleteTable" in s["Action"]]
    assert delete["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*-dr-rehearsal-*"
    }
    (start,) = [s for s in statements("RehearsalFunctionRole") if s["Action"] == "states:StartExecution"]
    assert start["Resource"] == {"Ref": "RestoreStateMachine"}
    schedules = [
        r["Properties"]["ScheduleExpression"]
        for r in cfn()["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
        and r["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["RehearsalFunction", "Arn"]}
    ]
    assert sorted(s["Ref"] for s in schedules) == ["RehearsalFollowUpSchedule", "RehearsalSchedule"]


def test_dashboard_widgets_are_search_based_per_table():
    body_template = resource("PostureDashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "1", body_template))
    expressions = [
        m[0]["expression"]
        for w in body["widgets"]
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
    ]
    assert expressions and all(e.startswith("SEARCH('{DynamoDBDR/1,") for e in expressions)
    shown = {re.search(r'MetricName="(\w+)"', e).group(1) for e in expressions}  # type: ignore[union-attr]
    assert {
        "RpoMet",
        "WorstCaseRpoSeconds",
        "PitrEnabled",
        "BackupAgeSeconds",
        "ExportAgeSeconds",
        "CdcArchiveLagSeconds",
        "CdcMappingLagSeconds",
        "CdcReachAgeSeconds",
        "CdcArchiveAtRisk",
        "ReplicationLatency",
        "MeasuredRtoSeconds",
    } <= shown
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    named = {a.rsplit(":", 1)[1] for a in alarms["properties"]["alarms"]}
    declared = {
        f"1-{k.removesuffix('Alarm')}"
        for k, v in cfn()["Resources"].items()
        if v["Type"] == "AWS::CloudWatch::Alarm" and "AlarmName" in v["Properties"]
    }
    assert named <= declared and len(named) == 18
    assert {a for a in declared if a.startswith("1-Cdc")} <= named  # every CDC failure route's alarm
