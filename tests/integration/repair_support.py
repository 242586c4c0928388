"""Helpers of the repair tests: an incident in whole-second windows, the archive fed from the
table's real stream, and the repair state machine run like an operator would."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cdc_support import Cdc

from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader

KEY = "customer_id"


def next_second() -> datetime:
    """Sleep to the next whole second and return it: stream times are whole seconds, so window
    bounds on whole seconds are exact."""
    now = datetime.now(UTC)
    boundary = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((boundary - now).total_seconds() + 0.02)
    return boundary


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def customer(n: int | str, **fields: Any) -> dict[str, Any]:
    return {
        KEY: f"c{n}",
        "email": f"c{n}@example.com",
        "tier": "free",
        "balance": Decimal(n if isinstance(n, int) else 1),
        "tags": {"a", "b"},
        **fields,
    }


@dataclass
class Rig:
    emulator: Emulator
    stack: DeployedStack
    cdc: Cdc
    executions: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, emulator: Emulator, stack: DeployedStack) -> Rig:
        reader = StreamReader(
            emulator.clients.client("dynamodb"), emulator.clients.client("dynamodbstreams"), "customers"
        )
        return cls(emulator, stack, Cdc(emulator, stack, stack.outputs["ArchiveBucketName"], reader))

    @property
    def table(self) -> Any:
        return self.emulator.clients.session_resource("dynamodb").Table("customers")

    @property
    def bucket(self) -> str:
        return self.stack.outputs["ArchiveBucketName"]

    def deliver(self) -> int:
        records = self.cdc.reader.read(limit=10**6)
        if records:
            self.cdc.deliver(records, batch_size=100)
        return len(records)

    def items(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = self.table.scan(**request)
            found.update({item[KEY]: item for item in page["Items"]})
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def run(self, request: dict[str, Any], name: str) -> dict[str, Any]:
        """Start the repair machine and wait for its end (the emulator runs it in a thread)."""
        sfn = self.emulator.clients.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.stack.outputs["RepairStateMachineArn"], name=name, input=json.dumps(request)
        )["executionArn"]
        self.executions.append(arn)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            described = dict(sfn.describe_execution(executionArn=arn))
            if described["status"] != "RUNNING":
                described["report"] = json.loads(described.get("output") or "{}")
                return described
            time.sleep(0.05)
        raise AssertionError(f"repair {name} still running")

    def backups(self) -> dict[str, str]:
        client = self.emulator.clients.client("dynamodb")
        return {
            b["BackupArn"]: b["BackupName"]
            for b in client.list_backups(TableName="customers").get("BackupSummaries", [])
            if b["TableName"] == "customers"
        }

    def ledger(self) -> list[dict[str, Any]]:
        client = self.emulator.clients.client("dynamodb")
        return list(
            client.query(
                TableName=self.stack.outputs["StateTableName"],
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "BACKUP#customers"}},
            )["Items"]
        )

    def repair_objects(self) -> list[str]:
        s3 = self.emulator.clients.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="repairs/")
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stored_report(self, described: dict[str, Any]) -> dict[str, Any]:
        location = described["report"]["report_object"].removeprefix("s3://")
        bucket, _, key = location.partition("/")
        body = self.emulator.clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return dict(json.loads(body))


@dataclass
class Incident:
    """Good items, then a bad deploy in [t1, t2), then good writes after t2."""

    before: dict[str, dict[str, Any]]
    t1: datetime
    t2: datetime
    corrupted: list[str]
    deleted: list[str]
    created: list[str]
    after: dict[str, dict[str, Any]]

    def request(self, **extra: Any) -> dict[str, Any]:
        return {"table": "customers", "from": iso(self.t1), "to": iso(self.t2), **extra}


def bad_deploy(
    rig: Rig,
    *,
    items: int = 12,
    corrupt: int = 4,
    delete: int = 2,
    create: int = 2,
    after: Callable[[Rig], dict[str, dict[str, Any]]] | None = None,
) -> Incident:
    """Put `items` good customers, then (in a window of whole seconds) corrupt, delete and create
    some, then let `after` make the good writes that follow the incident; deliver the stream."""
    table = rig.table
    for n in range(items):
        table.put_item(Item=customer(n))
    before = rig.items()
    t1 = next_second()
    corrupted = [f"c{n}" for n in range(corrupt)]
    deleted = [f"c{n}" for n in range(corrupt, corrupt + delete)]
    created = [f"bad{n}" for n in range(create)]
    for key in corrupted:
        table.update_item(
            Key={KEY: key},
            UpdateExpression="SET email = :e, deploy_version = :v",
            ExpressionAttributeValues={":e": "null@invalid", ":v": "v42"},
        )
    for key in deleted:
        table.delete_item(Key={KEY: key})
    for key in created:
        table.put_item(Item={KEY: key, "email": "junk", "deploy_version": "v42"})
    t2 = next_second()
    good = after(rig) if after else {}
    rig.deliver()
    return Incident(before, t1, t2, corrupted, deleted, created, good)


def sign_ups(count: int) -> Callable[[Rig], dict[str, dict[str, Any]]]:
    def write(rig: Rig) -> dict[str, dict[str, Any]]:
        made = {}
        for n in range(count):
            item = {KEY: f"new{n}", "email": f"new{n}@example.com", "tier": "pro"}
            rig.table.put_item(Item=item)
            made[item[KEY]] = item
        return made

    return write
