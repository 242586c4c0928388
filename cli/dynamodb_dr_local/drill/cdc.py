"""Drill stage: the CDC archive grows while the sample workload runs, then replays into a copy.

The emulator's own stream mapping delivers one write per invocation; like Lambda with a batching
window, this stage reads the table's stream and hands the archiver one batch per workload round.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr_local.drill.report import Progress, table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader


@dataclass
class CdcRound:
    writes: int
    records: int
    objects: int
    archive_bytes: int


@dataclass
class CdcStageResult:
    rounds: list[CdcRound] = field(default_factory=list)
    replayed_keys: int = 0
    replay_matches: bool = False


def run_cdc_stage(
    emu: Emulator,
    stack: DeployedStack,
    *,
    logical_table: str,
    rounds: int = 5,
    writes_per_round: int = 200,
    progress: Progress | None = None,
) -> CdcStageResult:
    progress = progress or Progress()
    dynamodb = emu.clients.client("dynamodb")
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    reader = StreamReader(dynamodb, emu.clients.client("dynamodbstreams"), logical_table)
    reader.skip_to_latest()  # start after what the table already holds (the initial load)
    started = datetime.now(UTC)
    resource = emu.clients.session_resource("dynamodb").Table(logical_table)
    keys = [
        item["customer_id"] for item in resource.scan(Limit=500, ProjectionExpression="customer_id")["Items"]
    ]
    rng, result, total_writes = random.Random(3), CdcStageResult(), 0
    touched: set[str] = set()
    for _ in range(rounds):
        for _ in range(writes_per_round):
            key = {"customer_id": rng.choice(keys)}
            touched.add(key["customer_id"])
            if rng.random() < 0.1:
                resource.delete_item(Key=key)
            else:
                resource.update_item(
                    Key=key,
                    UpdateExpression="SET balance = :b",
                    ExpressionAttributeValues={":b": Decimal(rng.randint(0, 100_000)) / 100},
                )
        total_writes += writes_per_round
        records = reader.read(limit=10**9)
        _archive(emu, stack, records)
        keys_now = list(store.keys(f"cdc/table={logical_table}/"))
        size = sum(len(store.get(k)) for k in keys_now)
        result.rounds.append(CdcRound(total_writes, len(records), len(keys_now), size))
        progress.step(f"CDC archive: {len(keys_now)} objects, {size:,} bytes after {total_writes:,} writes")
    copy = f"{logical_table}-cdc-copy"
    _copy_schema(dynamodb, logical_table, copy)
    request = ReplayRequest(
        table=logical_table, start=started, end=datetime.now(UTC) + timedelta(minutes=1), target=copy
    )
    report = replay(request, store, dynamodb, {logical_table: logical_table})
    result.replayed_keys = report.keys
    # Every key the workload changed is, in the copy, exactly what it is in the source.
    result.replay_matches = report.keys == len(touched) and all(
        _item(dynamodb, copy, key) == _item(dynamodb, logical_table, key) for key in touched
    )
    return result


def _item(dynamodb: Any, table_name: str, customer_id: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(TableName=table_name, Key={"customer_id": {"S": customer_id}}).get("Item")
    return dict(item) if item else None


def _archive(emu: Emulator, stack: DeployedStack, records: list[dict[str, Any]]) -> None:
    response = emu.clients.client("lambda").invoke(
        FunctionName=stack.physical("CdcArchiverFunction"), Payload=json.dumps({"Records": records})
    )
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError") or payload.get("batchItemFailures"):
        raise RuntimeError(f"archiver failed: {payload}")


def _copy_schema(dynamodb: Any, source: str, target: str) -> None:
    described = dynamodb.describe_table(TableName=source)["Table"]
    dynamodb.create_table(
        TableName=target,
        KeySchema=described["KeySchema"],
        AttributeDefinitions=[
            a
            for a in described["AttributeDefinitions"]
            if a["AttributeName"] in {k["AttributeName"] for k in described["KeySchema"]}
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def render(result: CdcStageResult) -> str:
    rows = [[r.writes, r.records, r.objects, f"{r.archive_bytes:,}"] for r in result.rounds]
    return table(["writes", "stream records", "archive objects", "archive bytes (gzip)"], rows)
