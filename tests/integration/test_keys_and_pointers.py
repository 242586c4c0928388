"""Issue 21 items 1-2: the data key is retained and guarded, and live-table pointers fail closed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import invoke
from restore_support import deploy, live_table, make_table, run

from dynamodb_dr.core import paths
from dynamodb_dr_local.emulator import DeployedStack, Emulator, transform_template

pytestmark = pytest.mark.integration
BREAK_GLASS = "arn:aws:iam::123456789012:role/dr-break-glass"
AUTOMATIC = {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"}


def publish(emu: Emulator, stack: DeployedStack) -> dict[str, Any]:
    payload, errored = invoke(emu, stack.physical("RestorePointerFunction"), {"action": "publish"})
    assert not errored, payload
    return payload


def pointer_name(stack: DeployedStack, logical: str = "customers") -> str:
    return paths.live_table_parameter(paths.stack_prefix(stack.name), logical)


def emf(emu: Emulator, metric: str) -> list[float]:
    logs = emu.router.invocations[-1].logs
    return [json.loads(line)[metric] for line in logs.splitlines() if f'"{metric}"' in line]


# ------------------------------------------------------------------ 21.1 the data key
def test_the_data_key_is_retained_with_the_data_it_encrypts() -> None:
    resources = transform_template(parameters={"ProtectedTables": "customers"}).cloudformation["Resources"]
    for name in ("DataKey", "StateTable", "ArchiveBucket"):
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    alarm = resources["DataKeyUnusableAlarm"]["Properties"]
    assert alarm["MetricName"] == "DataKeyUsable" and alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching", "a key too disabled to report is an alarm too"


def _deny(policy: dict[str, Any], action: str, principal: str) -> bool:
    """Whether the key policy's explicit Deny statements refuse `action` to `principal`."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Deny" or action not in statement["Action"]:
            continue
        condition = statement.get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn")
        if condition is None or principal != condition:
            return True
    return False


@pytest.mark.parametrize("break_glass", ["", BREAK_GLASS])
def test_only_the_break_glass_role_may_disable_or_delete_the_key(emu: Emulator, break_glass: str) -> None:
    make_table(emu, "customers", count=1)
    stack = emu.deploy(parameters={"ProtectedTables": "customers", "KeyBreakGlassRoleArn": break_glass})
    kms = emu.clients.client("kms")
    policy = json.loads(kms.get_key_policy(KeyId=stack.outputs["DataKeyArn"], PolicyName="default")["Policy"])
    admin = "arn:aws:iam::123456789012:role/Admin"
    for action in ("kms:ScheduleKeyDeletion", "kms:DisableKey"):
        assert _deny(policy, action, admin), action
        assert _deny(policy, action, "arn:aws:iam::123456789012:root"), action
        assert _deny(policy, action, BREAK_GLASS) is (break_glass == ""), action
    assert not _deny(policy, "kms:Decrypt", admin)


@pytest.mark.parametrize("state", ["disabled", "pending-deletion"])
def test_a_disabled_or_doomed_data_key_raises_the_alarm_metric(emu: Emulator, state: str) -> None:
    make_table(emu, "customers", count=1)
    stack = deploy(emu, "customers")
    assert publish(emu, stack)["data_key_usable"] is True
    assert emf(emu, "DataKeyUsable") == [[1.0]]
    kms, key = emu.clients.client("kms"), stack.outputs["DataKeyArn"].rsplit("/", 1)[1]
    if state == "disabled":
        kms.disable_key(KeyId=key)
    else:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert publish(emu, stack)["data_key_usable"] is False
    assert emf(emu, "DataKeyUsable") == [[0.0]]


# ------------------------------------------------------------------ 21.2 pointers fail closed
def test_a_deleted_pointer_is_restored_from_the_record_after_a_cutover(emu: Emulator) -> None:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    assert publish(emu, stack)["created"] == [pointer_name(stack)]  # from deploy (the schedule)
    assert run(emu, stack, AUTOMATIC, "cut")["status"] == "SUCCEEDED"
    restored = live_table(emu, stack, "customers")
    assert restored.startswith("customers-dr-")
    ssm = emu.clients.client("ssm")
    ssm.delete_parameter(Name=pointer_name(stack))
    # Until the publish runs, a restore refuses to guess the live table (the original).
    refused = run(emu, stack, AUTOMATIC, "guess")
    assert refused["status"] == "FAILED" and refused["error"] == "RestoreRequestInvalid"
    assert "record says" in refused["cause"]
    payload = publish(emu, stack)
    assert payload["restored"] == [pointer_name(stack)] and payload["created"] == []
    assert live_table(emu, stack, "customers") == restored, "never back to the original table"
    assert emf(emu, "PointersRestored") == [[1.0]]


def test_a_pointer_that_differs_from_its_record_is_reported_not_overwritten(emu: Emulator) -> None:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    publish(emu, stack)
    ssm = emu.clients.client("ssm")
    ssm.put_parameter(Name=pointer_name(stack), Value="somewhere-else", Type="String", Overwrite=True)
    payload = publish(emu, stack)
    assert payload["mismatched"] == [pointer_name(stack)]
    assert live_table(emu, stack, "customers") == "somewhere-else"
    assert emf(emu, "PointerMismatches") == [[1.0]]


def test_after_a_rollback_a_deleted_pointer_comes_back_as_the_original(emu: Emulator) -> None:
    make_table(emu, "customers")
    stack = deploy(emu, "customers")
    publish(emu, stack)
    assert run(emu, stack, AUTOMATIC, "cut")["status"] == "SUCCEEDED"
    assert run(emu, stack, {"rollback": {"execution": "cut"}}, "undo")["status"] == "SUCCEEDED"
    emu.clients.client("ssm").delete_parameter(Name=pointer_name(stack))
    assert publish(emu, stack)["restored"] == [pointer_name(stack)]
    assert live_table(emu, stack, "customers") == "customers"
