"""Issue 20 in the transformed template: every failure route of the CDC archiver has an alarm that
fires within minutes and notifies, watching the metrics the code emits; the posture function may
read what the freshness check needs and nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from template_support import cfn

TOPIC = {"Ref": "AlarmTopic"}
ARCHIVER = {"Ref": "CdcArchiverFunction"}
STACK_NAMESPACE = {"Fn::Sub": "DynamoDBDR/${AWS::StackName}"}


def alarm(logical_id: str) -> dict[str, Any]:
    resource = cfn()["Resources"][logical_id]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    return dict(resource["Properties"])


def watched(props: dict[str, Any]) -> list[dict[str, Any]]:
    """(namespace, name, dimensions, stat, period) of every metric the alarm reads."""
    if "MetricName" in props:
        return [
            {
                "Namespace": props["Namespace"],
                "MetricName": props["MetricName"],
                "Dimensions": props.get("Dimensions", []),
                "Stat": props["Statistic"],
                "Period": props["Period"],
            }
        ]
    return [
        {**m["MetricStat"]["Metric"], "Stat": m["MetricStat"]["Stat"], "Period": m["MetricStat"]["Period"]}
        for m in props["Metrics"]
        if "MetricStat" in m
    ]


def service_of(function: str) -> str:
    variables = cfn()["Resources"][function]["Properties"]["Environment"]["Variables"]
    return str(variables["POWERTOOLS_SERVICE_NAME"])


CDC_ALARMS = [
    "CdcFailureQueueAlarm",
    "CdcIteratorAgeAlarm",
    "CdcArchiverFailingAlarm",
    "CdcArchiverThrottledAlarm",
    "CdcRecordsDroppedAlarm",
    "CdcMappingsNotKeptAlarm",
    "CdcStreamGapAlarm",
    "CdcArchiveAtRiskAlarm",
    "CdcDeadLettersAlarm",
]


@pytest.mark.parametrize("logical_id", CDC_ALARMS)
def test_every_cdc_alarm_notifies_within_minutes(logical_id: str) -> None:
    props = alarm(logical_id)
    assert props["AlarmActions"] == [TOPIC] and props["OKActions"] == [TOPIC]
    window = max(m["Period"] for m in watched(props)) * props["EvaluationPeriods"]
    assert window <= 600  # in alarm within 10 minutes of the condition, far inside 24 h


def test_iterator_age_alarm_watches_every_mapping_against_the_rpo() -> None:
    props = alarm("CdcIteratorAgeAlarm")
    (metric,) = watched(props)
    # Function-level Maximum: the slowest of whatever mappings the follower created at run time.
    assert metric["Namespace"] == "AWS/Lambda" and metric["MetricName"] == "IteratorAge"
    assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": ARCHIVER}]
    assert metric["Stat"] == "Maximum" and metric["Period"] == 60
    (returned,) = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    assert returned["Expression"].replace(" ", "") == "age/60000"  # milliseconds -> minutes
    assert props["Threshold"] == {"Ref": "RpoMinutes"}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"  # a quiet stream reports nothing


def test_failing_throttled_and_dropping_archiver_alarms() -> None:
    failing = {m["MetricName"]: m for m in watched(alarm("CdcArchiverFailingAlarm"))}
    assert failing["Errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": ARCHIVER}]
    # Partial batch failures are no Lambda error: the archiver's own metric counts them.
    assert failing["CdcRecordsFailed"]["Namespace"] == STACK_NAMESPACE  # what the functions emit to
    assert failing["CdcRecordsFailed"]["Dimensions"] == [
        {"Name": "service", "Value": service_of("CdcArchiverFunction")}
    ]
    props = alarm("CdcArchiverFailingAlarm")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 3)  # a blip is no alarm
    assert [m["MetricName"] for m in watched(alarm("CdcArchiverThrottledAlarm"))] == ["Throttles"]
    dropped = alarm("CdcRecordsDroppedAlarm")
    assert [m["MetricName"] for m in watched(dropped)] == ["DestinationDeliveryFailures"]
    assert dropped["EvaluationPeriods"] == 1 and dropped["Threshold"] == 1


def test_follower_alarms_catch_it_failing_or_silent_and_stream_gaps() -> None:
    follower = service_of("CdcFollowerFunction")
    kept = alarm("CdcMappingsNotKeptAlarm")
    assert kept["MetricName"] == "CdcFollowFailures" and kept["Namespace"] == STACK_NAMESPACE
    assert kept["Dimensions"] == [{"Name": "service", "Value": follower}]
    assert kept["TreatMissingData"] == "breaching"  # the follower stopped running
    gap = alarm("CdcStreamGapAlarm")
    assert gap["Namespace"] == STACK_NAMESPACE
    assert gap["MetricName"] == "CdcStreamGaps" and gap["Dimensions"] == [
        {"Name": "service", "Value": follower}
    ]


def test_archive_at_risk_alarm_watches_the_posture_aggregate() -> None:
    props = alarm("CdcArchiveAtRiskAlarm")
    assert props["MetricName"] == "TablesCdcAtRisk" and props["Namespace"] == STACK_NAMESPACE
    assert props["Dimensions"] == [{"Name": "service", "Value": service_of("PostureFunction")}]
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "breaching"


def test_mappings_retry_until_the_records_are_a_day_old() -> None:
    parameter = cfn()["Parameters"]["CdcMaxRetryAttempts"]
    assert parameter["Default"] == -1 and parameter["MinValue"] == -1
    variables = cfn()["Resources"]["CdcFollowerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CDC_MAX_RETRY_ATTEMPTS"] == {"Ref": "CdcMaxRetryAttempts"}
    assert variables["CDC_MAX_RECORD_AGE_SECONDS"] == "86400"


def test_posture_reads_only_what_the_freshness_check_needs() -> None:
    function = cfn()["Resources"]["PostureFunction"]["Properties"]
    assert function["Environment"]["Variables"]["ARCHIVER_FUNCTION"] == ARCHIVER
    policies = cfn()["Resources"]["PostureFunctionRole"]["Properties"]["Policies"]
    ours = [
        p["PolicyDocument"] for p in policies if any("Sid" in s for s in p["PolicyDocument"]["Statement"])
    ]
    assert ours and all(doc["Version"] == "2012-10-17" for doc in ours)
    granted = {s["Sid"]: s for doc in ours for s in doc["Statement"]}
    assert granted["ListMappingsIsOnlyGrantedOnStar"]["Action"] == "lambda:ListEventSourceMappings"
    assert set(granted["MetricsAreOnlyGrantedOnStar"]["Action"]) == {
        "cloudwatch:GetMetricStatistics",
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
    }
    queue = granted["CdcFailureQueueDepthAndStreams"]
    assert set(queue["Action"]) == {"sqs:GetQueueAttributes", "sqs:ReceiveMessage"}
    assert queue["Resource"] == {"Fn::GetAtt": ["CdcFailureQueue", "Arn"]}
    assert granted["ReadCdcObjectsNewestChange"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/cdc/*"}
    actions = [
        a for s in granted.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [
        a for a in actions if a.split(":")[1].startswith(("Delete", "Update", "Put", "Send", "Create"))
    ]
