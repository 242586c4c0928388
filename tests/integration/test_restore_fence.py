"""Issue 21 item 3: after a cutover the old table refuses application writes (a resource-based
policy the emulator is made to enforce here, as DynamoDB does), the writes it received after the
switch are carried over to the restored table, and a rollback lifts the fence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from restore_support import archiving_stack, live_table, run, scan

from dynamodb_dr.restore.fence import FENCE_SID
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import monotonic_stream_sequences

pytestmark = pytest.mark.integration
CALLER = "arn:aws:iam::123456789012:user/moto"  # the emulator's caller: an "application" here
OPERATIONS = {
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
}


def _denied(policy_text: str, action: str, principal: str) -> bool:
    for statement in json.loads(policy_text).get("Statement", []):
        if statement.get("Effect") != "Deny" or action not in statement.get("Action", []):
            continue
        exempt = statement.get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn", [])
        if principal not in exempt:
            return True
    return False


@pytest.fixture
def enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB evaluates a table's resource-based policy on every item write; moto does not."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    def guard(name: str) -> None:
        original = getattr(DynamoHandler, name)

        def checked(handler: Any) -> Any:
            table = handler.dynamodb_backend.get_table(handler.body["TableName"])
            policy = handler.dynamodb_backend.resource_policies.get(table.table_arn)
            if policy and _denied(policy.policy_doc, OPERATIONS[name], CALLER):
                raise JsonRESTError("AccessDeniedException", "denied by the table's resource-based policy")
            return original(handler)

        monkeypatch.setattr(DynamoHandler, name, checked)

    for name in OPERATIONS:
        guard(name)


@pytest.fixture
def emu(enforced: None) -> Iterator[Emulator]:
    with Emulator() as emulator, monotonic_stream_sequences():
        yield emulator


@pytest.fixture
def archived(emu: Emulator) -> DeployedStack:
    return archiving_stack(emu, count=10)


def test_the_old_table_is_fenced_and_its_late_writes_are_carried_over(
    emu: Emulator, archived: DeployedStack
) -> None:
    old = emu.clients.session_resource("dynamodb").Table("customers")
    # the owner's own statement in the old table's resource policy is kept
    arn = emu.clients.client("dynamodb").describe_table(TableName="customers")["Table"]["TableArn"]
    own = {
        "Sid": "ReadersFromAnalytics",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/analytics"},
        "Action": "dynamodb:GetItem",
        "Resource": arn,
    }
    emu.clients.client("dynamodb").put_resource_policy(
        ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17", "Statement": [own]})
    )

    def stale_writer(function_name: str, event: Any) -> None:
        # An application with a cached pointer writes to the old table between switch and fence.
        if isinstance(event, dict) and event.get("action") == "fence" and not stale:
            for n in range(3):
                old.put_item(Item={"customer_id": f"stale-{n}", "email": f"s{n}@example.com"})
            stale.append(True)

    stale: list[bool] = []
    emu.router.fault_hook = stale_writer
    result = run(
        emu,
        archived,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "cut",
    )
    emu.router.fault_hook = None
    assert result["status"] == "SUCCEEDED", result.get("cause")
    report = json.loads(result["output"])
    assert report["outcome"] == "cut over" and report["problems"] == []
    restored = live_table(emu, archived, "customers")
    assert report["fence"]["tables"] == {"customers": "fenced"}
    carried = report["carried_over"]["detail"]["tables"][0]
    assert carried["applied"] == 3 and carried["source"] == "customers" and carried["target"] == restored
    assert {f"stale-{n}" for n in range(3)} <= {i["customer_id"]["S"] for i in scan(emu, restored)}
    with pytest.raises(ClientError) as refused:
        old.put_item(Item={"customer_id": "after-fence", "email": "x@example.com"})
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    policy = json.loads(emu.clients.client("dynamodb").get_resource_policy(ResourceArn=arn)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["ReadersFromAnalytics", FENCE_SID]
    fence = policy["Statement"][1]
    exempt = fence["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert len(exempt) == 2 and all(":role/" in a for a in exempt), "only the tool's roles may write"

    back = run(emu, archived, {"rollback": {"execution": "cut"}}, "undo")
    assert back["status"] == "SUCCEEDED", back.get("cause")
    assert json.loads(back["output"])["rollback"]["fences"] == {"customers": "lifted"}
    old.put_item(Item={"customer_id": "after-rollback", "email": "y@example.com"})  # writable again
    policy = json.loads(emu.clients.client("dynamodb").get_resource_policy(ResourceArn=arn)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["ReadersFromAnalytics"], "the owner's statement stays"


def test_a_key_the_restored_table_changed_itself_is_not_overwritten(
    emu: Emulator, archived: DeployedStack
) -> None:
    old = emu.clients.session_resource("dynamodb").Table("customers")
    new_writes: list[str] = []

    def both_sides(function_name: str, event: Any) -> None:
        if isinstance(event, dict) and event.get("action") == "fence" and not new_writes:
            target = live_table(emu, archived, "customers")
            old.put_item(Item={"customer_id": "contested", "email": "stale@example.com"})
            emu.clients.session_resource("dynamodb").Table(target).put_item(
                Item={"customer_id": "contested", "email": "fresh@example.com"}
            )
            new_writes.append(target)

    emu.router.fault_hook = both_sides
    result = run(
        emu,
        archived,
        {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"},
        "cut2",
    )
    emu.router.fault_hook = None
    assert result["status"] == "SUCCEEDED", result.get("cause")
    [target] = new_writes
    item = (
        emu.clients.session_resource("dynamodb")
        .Table(target)
        .get_item(Key={"customer_id": "contested"})["Item"]
    )
    assert item["email"] == "fresh@example.com"
    carried = json.loads(result["output"])["carried_over"]["detail"]["tables"][0]
    assert carried["skipped_newer_in_target"] == 1
