"""Assertions on the CloudFormation that samtranslator generates from template.yaml."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator import transform_template
from dynamodb_dr_local.emulator.stack import load_sam_template

PARAMETERS = {"ProtectedTables": "customers,orders"}


@cache
def cfn() -> dict[str, Any]:
    return transform_template(parameters=PARAMETERS).cloudformation


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


def test_backup_role_is_scoped_to_protected_tables():
    role = resources("AWS::IAM::Role")["BackupFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_sid = {s.get("Sid"): s for s in statements}
    tables = by_sid["ProtectedTablesPitrAndBackup"]["Resource"]
    assert tables["Fn::Split"][0] == ","
    rendered = render_table_list(tables, ["customers", "orders"])
    assert rendered == [
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/customers",
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/orders",
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/customers-dr-*",
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/orders-dr-*",
    ]
    backups = render_table_list(by_sid["ProtectedTablesBackups"]["Resource"], ["customers", "orders"])
    assert all(arn.endswith("/backup/*") for arn in backups) and len(backups) == 4
    assert by_sid["ListBackupsIsOnlyGrantedOnStar"]["Action"] == "dynamodb:ListBackups"


def render_table_list(expression: dict[str, Any], tables: list[str]) -> list[str]:
    """Evaluate the !Split/!Join ARN-list pattern for a ProtectedTables value."""

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and "Fn::Join" in node:
            delimiter, parts = node["Fn::Join"]
            parts = tables if parts == {"Ref": "ProtectedTables"} else [evaluate(p) for p in parts]
            return delimiter.join(parts)
        if isinstance(node, dict) and "Fn::Split" in node:
            delimiter, source = node["Fn::Split"]
            return evaluate(source).split(delimiter)
        return node

    return list(evaluate(expression))


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
    add, linked_role = policy["Properties"]["PolicyDocument"]["Statement"]
    assert render_table_list(add["Resource"], ["customers"]) == [
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/customers",
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/customers-dr-*",
    ]
    assert linked_role["Condition"] == {
        "StringEquals": {"iam:AWSServiceName": "replication.dynamodb.amazonaws.com"}
    }
