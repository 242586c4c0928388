"""The S3 export section of the transformed template: schedules, least privilege, replication."""

from __future__ import annotations

import json

from template_support import cfn, statements


def test_full_and_incremental_schedules_send_their_task() -> None:
    schedules = {
        k: v["Properties"] for k, v in cfn()["Resources"].items() if v["Type"] == "AWS::Scheduler::Schedule"
    }
    tasks = {}
    for name, props in schedules.items():
        if name.startswith("ExportFunction"):
            tasks[json.loads(props["Target"]["Input"])["task"]] = props
    assert set(tasks) == {"export-full", "export-incremental"}
    assert tasks["export-full"]["ScheduleExpression"] == {"Ref": "ExportFullSchedule"}
    assert tasks["export-incremental"]["ScheduleExpression"] == {"Ref": "ExportIncrementalSchedule"}
    for props in tasks.values():
        assert props["ScheduleExpressionTimezone"] == {"Ref": "ExportScheduleTimezone"}
        assert "DeadLetterConfig" in props["Target"]


def test_export_role_is_least_privilege() -> None:
    sids = statements("ExportFunctionRole")
    for statement in sids.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert statement["Resource"] != "*", statement["Sid"]
        assert all(not a.endswith("*") for a in actions), statement["Sid"]
    assert "dynamodb:ExportTableToPointInTime" in sids["ExportProtectedTables"]["Action"]
    assert sids["ExportProtectedTables"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/dynamodb-dr:protect": {"Ref": "AWS::StackName"}}
    }
    assert "/export/*" in json.dumps(sids["FollowExports"]["Resource"])
    assert "/exports/*" in json.dumps(sids["WriteExportsAndChainIndex"]["Resource"])


def test_the_notification_topic_is_encrypted_and_alarms_notify_it() -> None:
    resources = cfn()["Resources"]
    assert resources["ExportNotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    for alarm in ("ExportChainGapAlarm", "ExportFailureAlarm"):
        assert resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "ExportNotificationTopic"}]


def test_replication_is_off_by_default_and_least_privilege_when_on() -> None:
    resources = cfn()["Resources"]
    assert "ArchiveReplicationRole" in resources  # conditional: CloudFormation skips it
    assert resources["ArchiveReplicationRole"]["Condition"] == "ArchiveReplicationOn"
    bucket = resources["ArchiveBucket"]["Properties"]["ReplicationConfiguration"]
    assert bucket["Fn::If"][0] == "ArchiveReplicationOn" and bucket["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    rule = bucket["Fn::If"][1]["Rules"][0]
    assert rule["Destination"]["Bucket"] == {"Ref": "ArchiveReplicaBucketArn"}
    policy = resources["ArchiveReplicationPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for statement in policy:
        assert statement["Resource"] != "*"
