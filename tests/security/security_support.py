"""Helpers of the security/reliability gates: account snapshots, ticks, backup listings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr_local.emulator import DeployedStack, Emulator

# In the past of the real clock: the backup run refuses future ticks and ages backups by now.
FIRST_TICK = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)


def tick_event(when: datetime, **extra: Any) -> dict[str, Any]:
    return {"task": "backup", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "attempt": "1", **extra}


def day(n: int) -> datetime:
    return FIRST_TICK + timedelta(days=n)


def invoke(emulator: Emulator, function_name: str, event: Any) -> tuple[Any, bool]:
    response = emulator.clients.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), bool(response.get("FunctionError"))


def backups(emulator: Emulator, table: str | None = None) -> dict[str, str]:
    """ARN -> name of every USER backup (of one table, or all)."""
    client = emulator.clients.client("dynamodb")
    request: dict[str, Any] = {"BackupType": "USER", **({"TableName": table} if table else {})}
    found: dict[str, str] = {}
    while True:
        page = client.list_backups(**request)
        for summary in page.get("BackupSummaries", []):
            if table is None or summary["TableName"] == table:
                found[summary["BackupArn"]] = summary["BackupName"]
        if not page.get("LastEvaluatedBackupArn"):
            return found
        request["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]


def scan_all(emulator: Emulator, table: str) -> list[dict[str, Any]]:
    client = emulator.clients.client("dynamodb")
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AccountSnapshot:
    tables: dict[str, str]  # table -> digest of (settings that matter, all items)
    backups: dict[str, str]  # backup ARN -> name
    objects: dict[str, str]  # bucket/key#version -> etag
    parameters: dict[str, str]  # name -> value
    functions: dict[str, str]  # function -> digest of its configuration

    def diff(self, other: AccountSnapshot) -> list[str]:
        changes: list[str] = []
        for field in ("tables", "backups", "objects", "parameters", "functions"):
            mine, theirs = getattr(self, field), getattr(other, field)
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    changes.append(f"{field}: {key}: {mine.get(key)!r} -> {theirs.get(key)!r}")
        return changes


def snapshot(emulator: Emulator) -> AccountSnapshot:
    """The parts of the emulated account the tool could change or destroy."""
    dynamodb = emulator.clients.client("dynamodb")
    tables: dict[str, str] = {}
    for name in dynamodb.list_tables()["TableNames"]:
        description = dynamodb.describe_table(TableName=name)["Table"]
        pitr = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        settings = {
            "status": description.get("TableStatus"),
            "deletion_protection": description.get("DeletionProtectionEnabled"),
            "pitr": pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus"),
        }
        items = sorted(json.dumps(i, sort_keys=True) for i in scan_all(emulator, name))
        tables[name] = _digest([settings, items])
    s3 = emulator.clients.client("s3")
    objects: dict[str, str] = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
            for version in page.get("Versions", []):
                objects[f"{bucket['Name']}/{version['Key']}#{version['VersionId']}"] = version.get("ETag", "")
            for marker in page.get("DeleteMarkers", []):
                objects[f"{bucket['Name']}/{marker['Key']}#{marker['VersionId']}"] = "delete-marker"
    ssm = emulator.clients.client("ssm")
    parameters: dict[str, str] = {}
    for page in ssm.get_paginator("describe_parameters").paginate():
        for parameter in page.get("Parameters", []):
            name = parameter["Name"]
            parameters[name] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    lambda_client = emulator.clients.client("lambda")
    functions = {
        f["FunctionName"]: _digest({k: f.get(k) for k in ("Environment", "Role", "Handler", "Timeout")})
        for f in lambda_client.list_functions().get("Functions", [])
    }
    return AccountSnapshot(tables, backups(emulator), objects, parameters, functions)


def deploy(emulator: Emulator, tables: str, **parameters: str) -> DeployedStack:
    return emulator.deploy(parameters={"ProtectedTables": tables, **parameters})


def run_execution(emulator: Emulator, arn: str, name: str, document: str, timeout: float = 120) -> str:
    """Run one execution to its end, approving any task-token wait; returns its ARN."""
    sfn = emulator.clients.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=document)["executionArn"]
    answered: set[str] = set()
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        for invocation in list(emulator.router.invocations):
            token = invocation.event.get("task_token") if isinstance(invocation.event, dict) else None
            if token and token not in answered:
                answered.add(token)
                with contextlib.suppress(Exception):  # a token of an execution that already ended
                    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution, error="LogsGateTimeout")
            break
        time.sleep(0.05)
    return str(execution)


def stream_events(emulator: Emulator, table: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lambda-shaped DynamoDB stream batches (INSERT, MODIFY, REMOVE, and a malformed record) made
    from real items: every function without a sample event is also invoked with these, so a
    stream consumer that lands later is covered even before it ships sample events."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    stream_arn = (
        emulator.clients.client("dynamodb")
        .describe_table(TableName=table)["Table"]
        .get(
            "LatestStreamArn",
            f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-26T00:00:00.000",
        )
    )

    def image(item: dict[str, Any]) -> dict[str, Any]:
        return {k: serializer.serialize(v) for k, v in item.items()}

    def record(n: int, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": 1795700000 + n,
            "Keys": {"customer_id": {"S": (new or old or {})["customer_id"]}},
            "SequenceNumber": f"{100000000000000000000 + n}",
            "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old:
            body["OldImage"] = image(old)
        if new:
            body["NewImage"] = image(new)
        return {
            "eventID": f"gate-{n}",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": body,
            "eventSourceARN": stream_arn,
        }

    first, second = items[0], items[1]
    batch = [
        record(1, "INSERT", None, first),
        record(2, "MODIFY", first, {**first, "name": "Quinn Updated-Canary"}),
        record(3, "REMOVE", second, None),
    ]
    malformed = [{**record(4, "INSERT", None, first), "dynamodb": {"NewImage": image(first)}}]
    return [{"Records": batch}, {"Records": malformed}]
