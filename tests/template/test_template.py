"""Assertions on the CloudFormation that samtranslator generates from template.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest
from template_support import PARAMETERS, cfn

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.stack import load_sam_template


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn()["Resources"].items() if v["Type"] == kind}


def functions() -> dict[str, dict[str, Any]]:
    return resources("AWS::Lambda::Function")


def layer_id() -> str:
    """SAM names layer versions <LogicalId><hash>."""
    (name,) = [k for k in resources("AWS::Lambda::LayerVersion") if k.startswith("DomainLayer")]
    return name


def test_every_function_runs_python313_on_arm64_with_tracing_and_the_layer():
    assert functions(), "no functions in the template"
    for name, fn in functions().items():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert {"Ref": layer_id()} in props["Layers"], name
        assert 3 <= props["Timeout"] <= 900 and props["Timeout"] != 3, f"{name}: choose a timeout"
        assert props["MemorySize"] != 128, f"{name}: choose memory deliberately"


def test_every_function_logs_to_a_group_with_retention():
    groups = resources("AWS::Logs::LogGroup")
    for name, fn in functions().items():
        target = fn["Properties"]["LoggingConfig"]["LogGroup"]
        group = groups[target["Ref"]]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_layer_is_built_by_sam_for_python313_arm64():
    sam = load_sam_template()
    layer = sam["Resources"]["DomainLayer"]
    # layers/dynamodb_dr/Makefile: pinned arm64 wheels, --no-deps (tests/template/test_layer.py)
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["ContentUri"] == "layers/dynamodb_dr/"
    assert resources("AWS::Lambda::LayerVersion")[layer_id()]["Properties"]["CompatibleRuntimes"] == [
        "python3.13"
    ]


def test_layer_ships_only_its_pinned_runtime_requirements():
    lines = [
        line.split("#")[0].strip()
        for line in (PROJECT_ROOT / "layers/dynamodb_dr/requirements.txt").read_text().splitlines()
    ]
    pins = sorted(line for line in lines if line)
    assert pins == [
        "annotated-types==0.8.0",
        "aws-lambda-powertools==3.37.0",  # no [tracer] extra: no X-Ray SDK, no botocore
        "orjson==3.13.0",
        "pydantic-core==2.46.5",
        "pydantic==2.13.5",
        "typing-extensions==4.16.0",
        "typing-inspection==0.4.5",
    ]
    layer_files = {p.name for p in (PROJECT_ROOT / "layers/dynamodb_dr").iterdir()}
    assert layer_files <= {"requirements.txt", "Makefile", "dynamodb_dr", "__pycache__"}


def test_backup_schedule_sends_the_scheduled_time_and_retries_into_a_dead_letter_queue():
    schedule = resources("AWS::Scheduler::Schedule")["BackupFunctionTick"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "BackupSchedule"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "BackupScheduleTimezone"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["BackupFunction", "Arn"]}
    assert json.loads(target["Input"])["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ScheduledTaskDeadLetterQueue", "Arn"]}


TABLES = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}
TAGGED_FOR_THE_STACK = {"StringEquals": {"aws:ResourceTag/dynamodb-dr:protect": {"Ref": "AWS::StackName"}}}


def test_backup_role_reaches_only_tables_tagged_for_the_stack_in_its_own_region():
    role = resources("AWS::IAM::Role")["BackupFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_sid = {s.get("Sid"): s for s in statements}
    tables = by_sid["ProtectedTablesPitrAndBackup"]
    assert tables["Resource"] == TABLES  # this partition, region and account; not arn:*:...:*
    assert tables["Condition"] == TAGGED_FOR_THE_STACK
    assert by_sid["ProtectedTablesBackups"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*/backup/*"
    }
    assert by_sid["ListBackupsIsOnlyGrantedOnStar"]["Action"] == "dynamodb:ListBackups"


def test_no_policy_builds_arns_from_wildcard_partitions_regions_or_policy_variables():
    rendered = json.dumps(cfn())
    assert "arn:*" not in rendered
    assert "${aws:" not in rendered  # no IAM policy variables left anywhere
    assert ":dynamodb:*:" not in rendered


def test_every_policy_document_declares_the_2012_version():
    missing = []
    for name, resource in cfn()["Resources"].items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        for key in ("AssumeRolePolicyDocument", "KeyPolicy"):
            if key in props:
                documents.append(props[key])
        missing += [name for doc in documents if doc.get("Version") != "2012-10-17"]
    assert not missing, f"policy documents without Version 2012-10-17: {missing}"


def test_template_ssm_paths_match_core_paths():
    """template.yaml cannot import core.paths: its pointer paths are checked against it here."""
    from dynamodb_dr.core import paths

    prefix = paths.stack_prefix("${AWS::StackName}")
    rendered = json.dumps(load_sam_template())
    assert f"parameter{paths.pointers_prefix(prefix)}*" in rendered  # IAM on the pointer folder
    assert json.dumps({"prefix": {"Fn::Sub": paths.pointers_prefix(prefix)}}) in rendered  # follow cutovers
    assert paths.policy_parameter(prefix) in rendered
    globals_env = load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["SSM_PREFIX"] == {"Fn::Sub": prefix}


@pytest.mark.parametrize("logical_id", ["StateTable", "ArchiveBucket"])
def test_stateful_resources_are_retained(logical_id):
    resource = cfn()["Resources"][logical_id]
    assert resource["DeletionPolicy"] == "Retain"


def test_state_table_is_encrypted_with_the_data_key_and_has_pitr():
    props = cfn()["Resources"]["StateTable"]["Properties"]
    assert props["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_replica_guard_permissions_exist_only_with_a_dr_region_and_stay_on_protected_tables():
    policy = cfn()["Resources"]["BackupReplicaGuardPolicy"]
    assert policy["Condition"] == "DrReplicaOn"
    assert cfn()["Conditions"]["DrReplicaOn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DrReplicaRegion"}, ""]}]
    }
    assert policy["Properties"]["Roles"] == [{"Ref": "BackupFunctionRole"}]
    assert policy["Properties"]["PolicyDocument"]["Version"] == "2012-10-17"
    add, replica_region, linked_role = policy["Properties"]["PolicyDocument"]["Statement"]
    assert add["Resource"] == TABLES and add["Condition"] == TAGGED_FOR_THE_STACK
    # The DR region only where it is configured, and no table creation outside the restore.
    assert replica_region["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${DrReplicaRegion}:${AWS::AccountId}:table/*"
    }
    assert "dynamodb:CreateTable" not in replica_region["Action"]
    assert linked_role["Condition"] == {
        "StringEquals": {"iam:AWSServiceName": "replication.dynamodb.amazonaws.com"}
    }


def test_guided_deploy_groups_and_labels_every_parameter():
    sam = load_sam_template()
    interface = sam["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
    assert sorted(grouped) == sorted(sam["Parameters"]), "each parameter in exactly one group"
    assert len(grouped) == len(set(grouped))
    assert set(interface["ParameterLabels"]) == set(sam["Parameters"])
    assert all(p.get("Description") for p in sam["Parameters"].values())


def test_no_fixed_name_collides_between_two_stacks_and_none_outgrows_its_limit():
    """Every name given in the template contains the stack name; the longest stack name the
    preflight accepts (72) keeps each within AWS's limit."""
    limits = {"StateMachineName": 80, "AlarmName": 255, "DashboardName": 255, "LogGroupName": 512,
              "AliasName": 256, "Name": 2048}  # fmt: skip
    stack = "s" * 72
    for logical_id, resource in cfn()["Resources"].items():
        props = resource.get("Properties", {})
        for key, limit in limits.items():
            value = props.get(key)
            if value is None or resource["Type"].startswith("AWS::Glue"):
                continue
            text = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else None
            assert text and "${AWS::StackName}" in text, f"{logical_id}.{key} is fixed: {value}"
            assert len(text.replace("${AWS::StackName}", stack)) <= limit, f"{logical_id}.{key}"
    for schedule in resources("AWS::Scheduler::Schedule").values():
        assert "Name" not in schedule["Properties"]  # OmitName: CloudFormation names it


def test_the_default_deploy_reserves_no_lambda_concurrency():
    """Reservations are off by default (they can fail a deploy); ReserveConcurrency=true restores them."""
    from iam.template_policies import intrinsics

    from dynamodb_dr_local.emulator.postdeploy import NO_VALUE

    def reserved(parameters: dict[str, str]) -> dict[str, object]:
        ev = intrinsics(cfn(), parameters, "s")
        values = {
            k: ev.resolve(f["Properties"].get("ReservedConcurrentExecutions")) for k, f in functions().items()
        }
        return {k: v for k, v in values.items() if v is not None and v is not NO_VALUE}

    assert reserved(PARAMETERS) == {}
    on = reserved({**PARAMETERS, "ReserveConcurrency": "true"})
    assert on["CdcFollowerFunction"] == 1 and on["RestorePointerFunction"] == 1
    assert sum(int(str(v)) for v in on.values()) == 58


def test_both_dead_letter_queues_alarm_to_the_alarm_topic():
    alarms = resources("AWS::CloudWatch::Alarm")
    for queue in ("ScheduledTaskDeadLetterQueue", "CdcFailureQueue"):
        watching = [
            a["Properties"]
            for a in alarms.values()
            if {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
            in a["Properties"].get("Dimensions", [])
        ]
        assert watching, f"no alarm on {queue}"
        assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in watching), queue


def test_replicating_object_locked_archives_has_what_s3_requires():
    policy = cfn()["Resources"]["ArchiveReplicationPolicy"]["Properties"]["PolicyDocument"]
    actions = {
        a
        for s in policy["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"s3:GetObjectRetention", "s3:GetObjectLegalHold"} <= actions


def test_the_restore_roles_account_wide_rights_are_scoped():
    role = resources("AWS::IAM::Role")["RestoreFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_sid = {s.get("Sid"): s for s in statements if "Sid" in s}
    assert by_sid["AlarmsCopyOnlyForRestoredTables"]["Resource"]["Fn::Sub"].endswith(":alarm:*(*-dr-*)")
    assert by_sid["AutoscalingCopy"]["Condition"]["StringEquals"] == {
        "application-autoscaling:service-namespace": "dynamodb"
    }
    kinesis = [s for s in statements if "Fn::If" in s]
    assert kinesis and all(s["Fn::If"][0] == "RestoreKinesisOn" for s in kinesis)
    assert kinesis[0]["Fn::If"][1]["Resource"] == {"Ref": "RestoreKinesisStreamArns"}


def test_the_deploy_guide_says_what_the_first_deploy_changes():
    # tests/unit/test_docs.py checks that docs/deploy.md lists every parameter.
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    assert "What the first deploy changes on your tables" in guide
