"""The stack's lifecycle custom resource: the deploy tags the named tables, `sam delete` removes
what the tool created at run time (mappings, pointers, its tags) and never a table's data or
settings; a table of another stack fails the deploy with the fix."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import invoke

from dynamodb_dr.core import paths
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.custom_resources import CustomResourceError, invoke_custom_resource

pytestmark = pytest.mark.integration


def tags(emulator: Emulator, table: str) -> dict[str, str]:
    ddb = emulator.clients.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    return {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def lifecycle(
    emulator: Emulator,
    stack: DeployedStack,
    request: str,
    old: dict[str, Any] | None = None,
    **properties: Any,
) -> dict[str, Any]:
    from moto.awslambda.utils import get_backend

    function = get_backend("123456789012", "us-east-1").get_function(stack.physical("LifecycleFunction"))
    resource = stack.template.cloudformation["Resources"]["StackLifecycle"]["Properties"]
    props = {
        "StackName": stack.name,
        "ProtectedTables": stack.parameters.get("ProtectedTables", ""),
        "SsmPrefix": paths.stack_prefix(stack.name),
        "ArchiverFunction": stack.physical("CdcArchiverFunction"),
        "ServiceToken": str(resource["ServiceToken"]),
        **properties,
    }
    event = {
        "RequestType": request,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack.name}/x",
        "RequestId": "r1",
        "LogicalResourceId": "StackLifecycle",
        "PhysicalResourceId": f"{stack.name}-lifecycle",
        "ResourceProperties": props,
    }
    if old is not None:
        event["OldResourceProperties"] = {**props, **old}
    return invoke_custom_resource(emulator.router, function, event)


def test_the_deploy_tags_each_named_table_for_the_stack(emulator, stack):
    assert tags(emulator, "customers")["dynamodb-dr:protect"] == stack.name
    assert tags(emulator, "customers")["team"] == "payments"  # the customer's own tags stay


def test_sam_delete_removes_mappings_pointers_and_its_tag_and_nothing_else(emulator, stack):
    ddb = emulator.clients.client("dynamodb")
    invoke(
        emulator,
        stack.physical("BackupFunction"),
        {"task": "backup", "scheduled_time": "2026-11-01T03:00:00Z"},
    )
    invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    invoke(emulator, stack.physical("RestorePointerFunction"), {"action": "publish"})
    mappings = emulator.clients.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical("CdcArchiverFunction")
    )["EventSourceMappings"]
    assert mappings, "the follower created the archiver's mapping"
    ssm = emulator.clients.client("ssm")
    ssm.put_parameter(
        Name=paths.pointers_prefix(paths.stack_prefix(stack.name)) + "notes", Value="x", Type="String"
    )
    before = ddb.describe_table(TableName="customers")["Table"]
    items_before = ddb.scan(TableName="customers")["Items"]

    answer = lifecycle(emulator, stack, "Delete")

    assert answer["Status"] == "SUCCESS", answer
    assert (
        emulator.clients.client("lambda").list_event_source_mappings(
            FunctionName=stack.physical("CdcArchiverFunction")
        )["EventSourceMappings"]
        == []
    )
    left = ssm.get_parameters_by_path(Path=paths.stack_prefix(stack.name), Recursive=True)["Parameters"]
    assert {p["Name"] for p in left} == {
        paths.pointers_prefix(paths.stack_prefix(stack.name))
        + "notes",  # not a pointer: not the tool's to delete
        paths.policy_parameter(paths.stack_prefix(stack.name)),  # CloudFormation deletes this one
    }
    assert "dynamodb-dr:protect" not in tags(emulator, "customers")
    after = ddb.describe_table(TableName="customers")["Table"]
    assert after["StreamSpecification"] == before["StreamSpecification"]
    pitr = ddb.describe_continuous_backups(TableName="customers")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"  # stays on
    assert ddb.scan(TableName="customers")["Items"] == items_before


def test_an_update_untags_a_table_dropped_from_the_names_only_if_it_is_ours(emulator, stack):
    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "orders")
    answer = lifecycle(emulator, stack, "Update", ProtectedTables="customers,orders")
    assert answer["Status"] == "SUCCESS" and answer["Data"]["tagged"] == "customers,orders"
    assert tags(emulator, "orders")["dynamodb-dr:protect"] == stack.name
    answer = lifecycle(
        emulator, stack, "Update", old={"ProtectedTables": "customers,orders"}, ProtectedTables="orders"
    )
    assert answer["Status"] == "SUCCESS" and answer["Data"]["untagged"] == "customers"
    assert "dynamodb-dr:protect" not in tags(emulator, "customers")
    assert tags(emulator, "orders")["dynamodb-dr:protect"] == stack.name


def test_a_table_of_another_stack_fails_the_deploy_and_tags_nothing(emulator, customers):
    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "orders")
    arn = ddb.describe_table(TableName="orders")["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dynamodb-dr:protect", "Value": "other-stack"}])
    with pytest.raises(CustomResourceError, match="already protected by stack 'other-stack'"):
        emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    assert "dynamodb-dr:protect" not in tags(emulator, "customers")  # checked before any tag
    assert tags(emulator, "orders")["dynamodb-dr:protect"] == "other-stack"


def test_a_missing_named_table_is_reported_and_tagged_once_it_exists(emulator, customers):
    stack = emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    deploy_answer = emulator.router.invocations[0].result
    assert "orders" in deploy_answer["Reason"] and "ProtectedTables" in deploy_answer["Reason"]
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    payload, errored = invoke(emulator, stack.physical("LifecycleFunction"), {"action": "tag-named-tables"})
    assert not errored, payload
    assert tags(emulator, "orders")["dynamodb-dr:protect"] == stack.name


def test_an_invalid_request_answers_failed_instead_of_hanging(emulator, stack):
    answer = lifecycle(emulator, stack, "Create", SsmPrefix="no-leading-slash")
    assert answer["Status"] == "FAILED"
