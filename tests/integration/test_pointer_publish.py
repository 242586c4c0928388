"""The pointer function's scheduled 'publish': every protected table gets a live-table pointer
applications can read, and an existing pointer (a cutover's) is never overwritten."""

from __future__ import annotations

import json

import pytest
from conftest import invoke
from restore_support import pointer

from dynamodb_dr.core import paths
from dynamodb_dr_local.emulator.stack import transform_template

pytestmark = pytest.mark.integration


def test_publish_creates_missing_pointers_and_keeps_existing_ones(emulator, customers):
    stack = emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    emulator.clients.client("ssm").put_parameter(
        Name=paths.live_table_parameter(paths.stack_prefix("dynamodb-dr"), "orders"),
        Value="orders-dr-20261101",
        Type="String",
    )
    payload, errored = invoke(emulator, stack.physical("RestorePointerFunction"), {"action": "publish"})
    assert not errored, payload
    assert payload["created"] == [paths.live_table_parameter(paths.stack_prefix("dynamodb-dr"), "customers")]
    assert pointer(emulator, stack, "customers") == "customers"
    orders = pointer(emulator, stack, "orders")
    assert orders == "orders-dr-20261101", "a cutover's pointer is never overwritten"
    again, errored = invoke(emulator, stack.physical("RestorePointerFunction"), {"action": "publish"})
    assert not errored and again["created"] == []


def test_unknown_pointer_action_is_refused_and_writes_nothing(emulator, stack):
    payload, errored = invoke(emulator, stack.physical("RestorePointerFunction"), {"action": "delete-all"})
    assert errored and payload["errorType"] == "InvalidInput"
    assert pointer(emulator, stack, "customers") is None


def test_publish_runs_on_a_schedule_into_the_dead_letter_queue_on_failure():
    cfn = transform_template(parameters={"ProtectedTables": "customers"}).cloudformation
    schedule = cfn["Resources"]["RestorePointerFunctionPublishPointers"]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert json.loads(schedule["Target"]["Input"]) == {"action": "publish"}
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": ["ScheduledTaskDeadLetterQueue", "Arn"]
    }
