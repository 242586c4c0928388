"""Helpers for the CDC integration tests: deliver real stream records like Lambda's mapping does."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.model import read_object
from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr_local.drill.workload import CUSTOMERS_KEY_SCHEMA, customer
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader


@dataclass
class Cdc:
    emulator: Emulator
    stack: DeployedStack
    bucket: str
    reader: StreamReader

    @property
    def archiver(self) -> str:
        return self.stack.physical("CdcArchiverFunction")

    def store(self) -> ArchiveStore:
        return ArchiveStore(self.emulator.clients.client("s3"), self.bucket)

    def invoke(self, records: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        response = self.emulator.clients.client("lambda").invoke(
            FunctionName=self.archiver, Payload=json.dumps({"Records": records})
        )
        return json.loads(response["Payload"].read()), bool(response.get("FunctionError"))

    def set_env(self, **values: str) -> None:
        client = self.emulator.clients.client("lambda")
        env = client.get_function_configuration(FunctionName=self.archiver)["Environment"]["Variables"]
        client.update_function_configuration(
            FunctionName=self.archiver, Environment={"Variables": {**env, **values}}
        )

    def deliver(self, records: list[dict[str, Any]], batch_size: int, max_attempts: int = 50) -> int:
        """Lambda's retry loop for one shard: resume at the reported failure. Returns invocations."""
        position, invocations = 0, 0
        while position < len(records):
            invocations += 1
            assert invocations <= max_attempts, "the archiver never caught up"
            batch = records[position : position + batch_size]
            payload, errored = self.invoke(batch)
            assert not errored, payload
            failures = payload["batchItemFailures"]
            if not failures:
                position += len(batch)
                continue
            failed = failures[0]["itemIdentifier"]
            seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
            position += seqs.index(failed)
        return invocations

    def archived(self) -> list[tuple[str, Any]]:
        """(object key, change) for every archived line, objects in key order."""
        store = self.store()
        return [
            (key, change)
            for key in sorted(store.keys("cdc/"))
            if key.endswith(".jsonl.gz")  # not the live-table history
            for change in read_object(store.get(key), key)
        ]


def allow_object_writes(emulator: Emulator, bucket: str) -> None:
    """Safety net for emulators whose S3 ignores policy Conditions (a TLS-only Deny would deny
    everything): drop the policy only if a plain write is refused. Used by other suites too."""
    s3 = emulator.clients.client("s3")
    try:
        s3.put_object(Bucket=bucket, Key="probe/tls", Body=b"")
        s3.delete_object(Bucket=bucket, Key="probe/tls")
    except Exception:
        s3.delete_bucket_policy(Bucket=bucket)


@contextmanager
def s3_faults(should_fail: Callable[[int], str | None]) -> Iterator[list[str]]:
    """Patch the archive's S3 adapter: call n (from 1) fails before ("fail") or after ("lost-ack")
    the write, per `should_fail(n)`. Yields the log of injected faults."""
    from botocore.exceptions import ClientError

    original = ArchiveStore.put_new
    injected: list[str] = []
    calls = [0]

    def put_new(
        self: ArchiveStore,
        key: str,
        body: bytes,
        records: int,
        *,
        newest: datetime | None = None,
        erased: int = 0,
    ) -> bool:
        calls[0] += 1
        fault = should_fail(calls[0])
        if fault == "lost-ack":
            original(self, key, body, records, newest=newest, erased=erased)
        if fault:
            injected.append(fault)
            with aws_errors():
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")
        return original(self, key, body, records, newest=newest, erased=erased)

    ArchiveStore.put_new = put_new  # type: ignore[method-assign]
    try:
        yield injected
    finally:
        ArchiveStore.put_new = original  # type: ignore[method-assign]


def workload(table: Any, rng: random.Random, operations: int, keys: int = 12) -> None:
    """Puts, updates and deletes over a small key space (so keys change many times)."""
    people = [customer(rng) for _ in range(keys)]
    for step in range(operations):
        person = rng.choice(people)
        roll = rng.random()
        if roll < 0.2:
            table.delete_item(Key={"customer_id": person["customer_id"]})
        elif roll < 0.5:
            table.update_item(
                Key={"customer_id": person["customer_id"]},
                UpdateExpression="SET balance = :b, version = :v, avatar = :a",
                ExpressionAttributeValues={
                    ":b": Decimal(rng.randint(0, 10_000)) / 100,
                    ":v": step,
                    ":a": bytes(rng.getrandbits(8) for _ in range(4)),
                },
            )
        else:
            table.put_item(Item={**person, "version": step})


def create_target(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=CUSTOMERS_KEY_SCHEMA,
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def items(resource: Any, table: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {}
    while True:
        page = resource.Table(table).scan(**request)
        found.update({item["customer_id"]: item for item in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=2), now + timedelta(hours=2)
