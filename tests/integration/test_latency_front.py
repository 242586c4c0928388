"""The benchmarks' AWS-like front for the emulator: latency on every call, DynamoDB's write throttle
(UnprocessedItems, then ProvisionedThroughputExceededException), S3 passed through unchanged."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.latency import Latency, LatencyFront

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("latency_front")]


@pytest.fixture(scope="module")
def emulator() -> Any:
    with Emulator(server=True) as emu:
        emu.clients.client("dynamodb").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        emu.clients.client("s3").create_bucket(Bucket="bench-front")
        yield emu


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def puts(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"PutRequest": {"Item": {"id": {"S": f"k{n}"}, "v": {"S": "x" * 100}}}}
        for n in range(first, first + count)
    ]


def count(emu: Emulator) -> int:
    return int(emu.clients.client("dynamodb").scan(TableName="t", Select="COUNT")["Count"])


def test_writes_above_the_rate_come_back_unprocessed_then_throttled(emulator: Emulator) -> None:
    before = count(emulator)
    now = [0.0]
    with LatencyFront(
        emulator.endpoint_url or "", write_units_per_second=30, latency=Latency(0, 0, 0), clock=lambda: now[0]
    ) as front:
        ddb = client("dynamodb", front.url)
        first = ddb.batch_write_item(RequestItems={"t": puts(0, 25)})
        assert first["UnprocessedItems"] == {}
        second = ddb.batch_write_item(RequestItems={"t": puts(100, 25)})
        left = second["UnprocessedItems"]["t"]
        assert len(left) == 20  # 5 units were left in the bucket
        with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException):
            ddb.batch_write_item(RequestItems={"t": left})  # the bucket is empty: refused whole
        with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException):
            ddb.put_item(TableName="t", Item={"id": {"S": "k200"}})
        now[0] += 0.5  # half a second refills 15 units
        assert len(ddb.batch_write_item(RequestItems={"t": left})["UnprocessedItems"]["t"]) == 5
        assert front.stats.throttled_calls >= 2 and front.stats.unprocessed_items == 25  # botocore retries
    # Only what the front accepted reached the emulator.
    assert count(emulator) == before + 25 + 5 + 15


def test_absorbed_writes_are_counted_not_stored(emulator: Emulator) -> None:
    before = count(emulator)
    with LatencyFront(emulator.endpoint_url or "", absorb_writes=True, latency=Latency(0, 0, 0)) as front:
        ddb = client("dynamodb", front.url)
        ddb.batch_write_item(RequestItems={"t": puts(1000, 25)})
        ddb.batch_write_item(RequestItems={"t": puts(1000, 5)})  # the same items again
        assert front.items("t") == 25
        assert ddb.describe_table(TableName="t")["Table"]["TableName"] == "t"  # reads forwarded
    assert count(emulator) == before


def test_every_call_waits_its_latency_and_s3_passes_through(emulator: Emulator) -> None:
    latency = Latency(dynamodb=0.05, dynamodb_per_item=0.0, s3=0.05)
    with LatencyFront(emulator.endpoint_url or "", latency=latency) as front:
        s3, ddb = client("s3", front.url), client("dynamodb", front.url)
        body = bytes(range(256)) * 4000
        started = time.monotonic()
        s3.put_object(Bucket="bench-front", Key="k/1", Body=body)
        assert s3.get_object(Bucket="bench-front", Key="k/1")["Body"].read() == body
        assert s3.head_object(Bucket="bench-front", Key="k/1")["ContentLength"] == len(body)
        ddb.describe_table(TableName="t")
        assert time.monotonic() - started >= 4 * 0.05  # a lower bound: each call waited
        assert front.stats.requests == {"s3:PUT": 1, "s3:GET": 1, "s3:HEAD": 1, "dynamodb:DescribeTable": 1}
