"""Drill stage: the application writes while the export chain and the CDC archiver run."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dynamodb_dr_local.drill.report import Progress, table
from dynamodb_dr_local.drill.workload import customer
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader


@dataclass
class LiveRound:
    tick: str
    export: str
    writes: int
    stream_records: int
    archive_objects: int


@dataclass
class LiveStageResult:
    rounds: list[LiveRound] = field(default_factory=list)
    exports_started: int = 0
    records_archived: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and self.exports_started == len(self.rounds) + 1


class Application:
    """The customers service: inserts, updates and deletes, as a real workload mixes them."""

    def __init__(self, emu: Emulator, table_name: str, seed: int = 21) -> None:
        self._table = emu.clients.session_resource("dynamodb").Table(table_name)
        self._rng = random.Random(seed)
        self._keys: list[str] = []

    def load_keys(self, keys: list[str]) -> None:
        self._keys = sorted(keys)

    def write(self, count: int) -> None:
        for _ in range(count):
            roll = self._rng.random()
            if roll < 0.3 or not self._keys:
                self.sign_up()
            elif roll < 0.85:
                key = self._rng.choice(self._keys)
                self._table.update_item(
                    Key={"customer_id": key},
                    UpdateExpression="SET balance = :b, version = version + :one",
                    ExpressionAttributeValues={":b": Decimal(self._rng.randint(0, 99_999)) / 100, ":one": 1},
                )
            else:
                key = self._rng.choice(self._keys)
                self._keys.remove(key)
                self._table.delete_item(Key={"customer_id": key})

    def sign_up(self) -> dict[str, Any]:
        item = customer(self._rng)
        self._table.put_item(Item=item)
        self._keys.append(item["customer_id"])
        return item


class Archiver:
    """Delivers the table's stream to the archiver function in batches, as Lambda's mapping does."""

    def __init__(self, emu: Emulator, stack: DeployedStack, table_name: str) -> None:
        self._lambda = emu.clients.client("lambda")
        self._function = stack.physical("CdcArchiverFunction")
        self._reader = StreamReader(
            emu.clients.client("dynamodb"), emu.clients.client("dynamodbstreams"), table_name
        )

    def skip_backlog(self) -> None:
        self._reader.skip_to_latest()

    def drain(self) -> int:
        records = self._reader.read(limit=10**9)
        for start in range(0, len(records), 1000):
            batch = records[start : start + 1000]
            response = self._lambda.invoke(
                FunctionName=self._function, Payload=json.dumps({"Records": batch})
            )
            payload = json.loads(response["Payload"].read())
            if response.get("FunctionError") or payload.get("batchItemFailures"):
                raise RuntimeError(f"CDC archiver reported failures: {payload}")
        return len(records)


def run_live_stage(
    emu: Emulator,
    stack: DeployedStack,
    app: Application,
    archiver: Archiver,
    *,
    first_tick: datetime,
    rounds: int,
    writes_per_round: int,
    progress: Progress,
) -> LiveStageResult:
    """A FULL export, then rounds of writes each closed by an INCREMENTAL export tick (every 15
    simulated minutes) and a CDC archive delivery."""
    result = LiveStageResult()
    export_fn = stack.physical("ExportFunction")
    full = _action(_tick(emu, export_fn, "export-full", first_tick))
    result.exports_started += full.startswith("started")
    progress.step(f"export chain: FULL export at {first_tick:%H:%M} (simulated schedule)")
    for number in range(1, rounds + 1):
        app.write(writes_per_round)
        records = archiver.drain()
        result.records_archived += records
        when = first_tick + timedelta(minutes=15 * number)
        action = _action(_tick(emu, export_fn, "export-incremental", when))
        result.exports_started += action.startswith("started")
        objects = _count_objects(emu, stack.outputs["ArchiveBucketName"], "cdc/")
        result.rounds.append(LiveRound(f"{when:%H:%M}", action, writes_per_round, records, objects))
        progress.step(
            f"round {number}: {writes_per_round} writes, {records} stream records archived "
            f"({objects} archive objects), incremental export tick {when:%H:%M}"
        )
    return result


def _tick(emu: Emulator, function_name: str, task: str, when: datetime) -> dict[str, Any]:
    event = {"task": task, "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    response = emu.clients.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
    payload = dict(json.loads(response["Payload"].read()))
    if response.get("FunctionError"):
        raise RuntimeError(f"{task} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
    return payload


def _action(payload: dict[str, Any]) -> str:
    (table_result,) = payload["tables"]
    return str(table_result["action"])


def _count_objects(emu: Emulator, bucket: str, prefix: str) -> int:
    paginator = emu.clients.client("s3").get_paginator("list_objects_v2")
    return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=bucket, Prefix=prefix))


def render(result: LiveStageResult) -> str:
    rows = [(r.tick, r.export, r.writes, r.stream_records, r.archive_objects) for r in result.rounds]
    return table(("export tick", "export chain", "app writes", "archived records", "archive objects"), rows)
