"""Helpers of the restore state machine tests: tables with history, executions, assertions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from cdc_support import allow_object_writes
from conftest import invoke

from dynamodb_dr.core import paths
from dynamodb_dr.restore.checksum import checksum_of
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.handlers import Invocation

KEY = "customer_id"


def make_table(emu: Emulator, name: str, count: int = 40, seed: int = 7) -> list[dict[str, Any]]:
    """A customers-shaped application table with PITR on and `count` items."""
    ddb = emu.clients.client("dynamodb")
    create_customers_table(ddb, name)
    ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
    )
    return load_customers(emu.clients.session_resource("dynamodb").Table(name), count, seed=seed)


def deploy(emu: Emulator, *tables: str) -> DeployedStack:
    return emu.deploy(parameters={"ProtectedTables": ",".join(tables)})


def archiving_stack(emu: Emulator, count: int, parameters: dict[str, str] | None = None) -> DeployedStack:
    """`customers` with `count` items, protected by a stack whose CDC archive follows its stream."""
    make_table(emu, "customers", count=count)
    stack = emu.deploy(parameters={"ProtectedTables": "customers", **(parameters or {})})
    allow_object_writes(emu, stack.outputs["ArchiveBucketName"])
    _, errored = invoke(emu, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert not errored
    return stack


def mark() -> datetime:
    """A moment strictly between the writes before and after it (ms timestamps on the wire)."""
    time.sleep(0.02)
    moment = datetime.now(UTC)
    time.sleep(0.02)
    return moment


def scan(emu: Emulator, table: str) -> list[dict[str, Any]]:
    ddb = emu.clients.client("dynamodb")
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: json.dumps(i.get(KEY) or i, sort_keys=True, default=str))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def figures(emu: Emulator, table: str) -> dict[str, Any]:
    items = scan(emu, table)
    return {"item_count": len(items), "checksum": checksum_of(items)}


def corrupt(emu: Emulator, table: str, items: list[dict[str, Any]]) -> None:
    """A bad deploy: overwrites some items, deletes others, adds junk."""
    resource = emu.clients.session_resource("dynamodb").Table(table)
    for item in items[:5]:
        resource.put_item(Item={**item, "balance": 0, "name": "CORRUPTED"})
    for item in items[5:10]:
        resource.delete_item(Key={KEY: item[KEY]})
    resource.put_item(Item={KEY: "junk", "email": "junk@example.com"})


def pointer(emu: Emulator, stack: DeployedStack, logical: str) -> str | None:
    """The live-table pointer's value; None when there is no pointer."""
    ssm = emu.clients.client("ssm")
    try:
        name = paths.live_table_parameter(paths.stack_prefix(stack.name), logical)
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def live_table(emu: Emulator, stack: DeployedStack, logical: str) -> str:
    """The table the pointer names: the logical table itself while there is no pointer."""
    value = pointer(emu, stack, logical)
    return logical if value is None else value


def start(emu: Emulator, stack: DeployedStack, request: dict[str, Any], name: str) -> str:
    sfn = emu.clients.client("stepfunctions")
    arn = stack.outputs["RestoreStateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(request))["executionArn"])


def wait(emu: Emulator, execution_arn: str, timeout: float = 120) -> dict[str, Any]:
    sfn = emu.clients.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution_arn, error="TestTimeout")
            raise AssertionError(f"execution {execution_arn} still running after {timeout} s")
        time.sleep(0.05)


def run(emu: Emulator, stack: DeployedStack, request: dict[str, Any], name: str) -> dict[str, Any]:
    return wait(emu, start(emu, stack, request, name))


def invocations_of(emu: Emulator, action: str) -> list[Invocation]:
    """The Lambda invocations of one step (the event's `action`), in order."""
    return [
        i for i in emu.router.invocations if isinstance(i.event, dict) and i.event.get("action") == action
    ]


def wait_for_token(emu: Emulator, execution_name: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for invocation in invocations_of(emu, "request_approval"):
            if invocation.event["plan"]["execution"] == execution_name:
                return str(invocation.event["task_token"])
        time.sleep(0.05)
    raise AssertionError("no approval was requested")


def states_entered(emu: Emulator, execution_arn: str) -> list[str]:
    events = emu.clients.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def table_names(emu: Emulator) -> set[str]:
    return set(emu.clients.client("dynamodb").list_tables()["TableNames"])


def tags(emu: Emulator, table: str) -> dict[str, str]:
    ddb = emu.clients.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    return {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def subscribe_queue(emu: Emulator, topic_arn: str) -> str:
    sqs, sns = emu.clients.client("sqs"), emu.clients.client("sns")
    url = sqs.create_queue(QueueName="restore-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(url)


def messages(emu: Emulator, queue_url: str) -> list[dict[str, Any]]:
    sqs = emu.clients.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
