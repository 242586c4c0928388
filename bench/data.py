"""Deterministic bench data: ~1 KB customer items and Lambda-shaped DynamoDB Streams records."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer

TABLE = "customers"
STREAM_LABEL = "2026-11-26T00:00:00.000"
STREAM_ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/{STREAM_LABEL}"
KEY_SCHEMA = [{"AttributeName": "customer_id", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "customer_id", "AttributeType": "S"}]
ITEM_BYTES = 1000  # target size of an item's DynamoDB JSON

_serializer = TypeSerializer()
_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def item(rng: random.Random, version: int = 1) -> dict[str, Any]:
    """One ~1 KB item in DynamoDB JSON (the low-level client's and the stream's format)."""
    cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    plain: dict[str, Any] = {
        "customer_id": cid,
        "email": f"{cid[:8]}@example.com",
        "name": f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()}",
        "tier": rng.choice(["free", "pro", "enterprise"]),
        "balance": rng.randint(0, 10_000_00),
        "marketing_opt_in": rng.random() < 0.4,
        "tags": {rng.choice(_WORDS) for _ in range(3)},
        "address": {"street": f"{rng.randint(1, 999)} Main St", "zip": f"{rng.randint(10000, 99999)}"},
        "orders": [rng.randint(1, 10**9) for _ in range(5)],
        "version": version,
    }
    low = {k: _serializer.serialize(v) for k, v in plain.items()}
    pad = ITEM_BYTES - len(json.dumps(low))
    low["notes"] = {"S": " ".join(rng.choice(_WORDS) for _ in range(max(1, pad // 6)))[: max(1, pad - 20)]}
    return low


def items(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [item(rng) for _ in range(count)]


def stream_records(count: int, seed: int = 11, first_sequence: int = 10**20) -> list[dict[str, Any]]:
    """A realistic delivered batch of one shard: 70% INSERT, 25% MODIFY, 5% REMOVE, one hour."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=1, microsecond=0).timestamp()
    records = []
    for n in range(count):
        new = item(rng, version=2)
        keys = {"customer_id": new["customer_id"]}
        roll = rng.random()
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": now + n * 0.001,
            "Keys": keys,
            "SequenceNumber": str(first_sequence + n * 100),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if roll < 0.70:
            name = "INSERT"
            dynamodb["NewImage"] = new
        elif roll < 0.95:
            name = "MODIFY"
            dynamodb["NewImage"] = new
            dynamodb["OldImage"] = {**new, "version": {"N": "1"}}
        else:
            name = "REMOVE"
            dynamodb["OldImage"] = new
        dynamodb["SizeBytes"] = len(json.dumps(dynamodb))
        records.append(
            {
                "eventID": uuid.UUID(int=rng.getrandbits(128)).hex,
                "eventName": name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": dynamodb,
                "eventSourceARN": STREAM_ARN,
            }
        )
    return records
