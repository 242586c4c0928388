"""Helpers of the S3 export tests: simulated schedule ticks, table mutations and snapshots."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from conftest import invoke

from dynamodb_dr.exports.chain import ExportChainStore, ExportRecord
from dynamodb_dr_local.drill.workload import create_customers_table, customer, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

# Simulated time lies in the recent past, so AWS-like rules (export time <= now, inside the 35-day
# PITR window) hold for every tick.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=9)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def tick_event(task: str, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"task": task, "scheduled_time": when.isoformat().replace("+00:00", "Z"), **extra}


def protect(emulator: Emulator, exports: ExportEmulation, table: str, items: int = 40) -> None:
    """Load the table, turn PITR on, and make its restorable window start before T0."""
    load_customers(emulator.clients.session_resource("dynamodb").Table(table), items)
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    exports.set_earliest_restorable(table, T0 - timedelta(days=1))


@dataclass
class Simulation:
    """Drives ticks of the export function and writes to the table between them."""

    emulator: Emulator
    stack: DeployedStack
    table: str = "customers"
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    snapshots: dict[datetime, dict[str, Any]] = field(default_factory=dict)
    results: list[tuple[str, datetime, dict[str, Any], bool]] = field(default_factory=list)
    _resource: Any = None
    _keys: list[str] | None = None

    def resource(self) -> Any:
        if self._resource is None:
            self._resource = self.emulator.clients.session_resource("dynamodb")
        return self._resource

    def run(self, task: str, when: datetime, **extra: Any) -> tuple[dict[str, Any], bool]:
        payload, errored = invoke(
            self.emulator, self.stack.physical("ExportFunction"), tick_event(task, when, **extra)
        )
        self.results.append((task, when, payload, errored))
        return payload, errored

    def table_result(self, payload: dict[str, Any], table: str | None = None) -> dict[str, Any]:
        return next(t for t in payload["tables"] if t["logical_name"] == (table or self.table))

    def hours(
        self, start: int, end: int, *, step: int = 1, full_every: int = 24, snapshot: Iterable[int] = ()
    ) -> None:
        """Incremental ticks every `step` hours (a FULL tick every `full_every`) with writes between."""
        wanted = set(snapshot)
        for hour in range(start, end, step):
            when = at(hour)
            if hour in wanted:
                self.snapshots[when] = self.scan()
            if hour % full_every == 0:
                _, errored = self.run("export-full", when)
                assert not errored
            _, errored = self.run("export-incremental", when)
            assert not errored
            self.mutate()

    def mutate(self, writes: int = 4) -> None:
        """Some puts, updates and deletes, as an application would make between two ticks."""
        table = self.resource().Table(self.table)
        if self._keys is None:
            self._keys = sorted(self.scan())
        keys = self._keys
        for _ in range(writes):
            roll = self.rng.random()
            if roll < 0.4 or not keys:
                item = customer(self.rng)
                table.put_item(Item=item)
                keys.append(item["customer_id"])
            elif roll < 0.8:
                key = self.rng.choice(keys)
                table.update_item(
                    Key={"customer_id": key},
                    UpdateExpression="SET balance = :b, version = version + :one",
                    ExpressionAttributeValues={":b": Decimal(self.rng.randint(0, 99999)) / 100, ":one": 1},
                )
            else:
                key = self.rng.choice(keys)
                keys.remove(key)
                table.delete_item(Key={"customer_id": key})

    def scan(self, table: str | None = None) -> dict[str, Any]:
        resource = self.resource().Table(table or self.table)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = resource.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return {i["customer_id"]: i for i in items}
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def store(self) -> ExportChainStore:
        return ExportChainStore(self.emulator.clients.client("dynamodb"), self.stack.physical("StateTable"))

    def chain(self, table: str | None = None) -> list[ExportRecord]:
        return self.store().exports(table or self.table)

    @property
    def bucket(self) -> str:
        return self.stack.outputs["ArchiveBucketName"]


@contextmanager
def exported_history(stack_env: Any) -> Iterator[Simulation]:
    """`customers` protected by a fresh stack, exported every 2 h up to 8 h with a snapshot of its
    items at 6 h; `stack_env` (a pytest MonkeyPatch) points the CLI at the stack."""
    with Emulator() as emulator, ExportEmulation() as exports:
        create_customers_table(emulator.clients.client("dynamodb"), "customers")
        stack = emulator.deploy(parameters={"ProtectedTables": "customers"})
        protect(emulator, exports, "customers", items=20)
        sim = Simulation(emulator, stack, rng=random.Random(5))
        sim.hours(0, 8, step=2, snapshot=(6,))
        sim.run("export-incremental", at(8))
        stack_env.setenv("DYNAMODB_DR_STACK", stack.name)
        yield sim
