"""A realistic sample `customers` table and the writes an application makes to it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Linus",
    "Radia",
    "Ken",
    "Frances",
    "John",
    "Katherine",
    "Tim",
    "Sophie",
    "Dennis",
    "Hedy",
    "Guido",
    "Anita",
    "Niklaus",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Thompson",
    "Allen",
    "Backus",
    "Johnson",
    "Berners-Lee",
    "Wilson",
    "Ritchie",
    "Lamarr",
    "Rossum",
]
CITIES = ["Lisbon", "Berlin", "Austin", "Osaka", "Nairobi", "Toronto", "Lyon", "Pune", "Bogota", "Perth"]
TIERS = ["free", "pro", "business", "enterprise"]

CUSTOMERS_KEY_SCHEMA = [{"AttributeName": "customer_id", "KeyType": "HASH"}]
CUSTOMERS_ATTRIBUTES = [
    {"AttributeName": "customer_id", "AttributeType": "S"},
    {"AttributeName": "email", "AttributeType": "S"},
]
CUSTOMERS_GSIS = [
    {
        "IndexName": "by-email",
        "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
]


def create_customers_table(dynamodb: Any, name: str = "customers") -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=CUSTOMERS_KEY_SCHEMA,
        AttributeDefinitions=CUSTOMERS_ATTRIBUTES,
        GlobalSecondaryIndexes=CUSTOMERS_GSIS,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "team", "Value": "payments"}],
    )


def customer(rng: random.Random, version: int = 1) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {
        "customer_id": customer_id,
        "email": f"{first}.{last}.{customer_id[:8]}@example.com".lower(),
        "name": f"{first} {last}",
        "tier": rng.choice(TIERS),
        "balance": Decimal(rng.randint(0, 10_000_00)) / 100,
        "city": rng.choice(CITIES),
        "marketing_opt_in": rng.random() < 0.4,
        "tags": {rng.choice(["vip", "beta", "churn-risk", "partner", "edu"]) for _ in range(2)},
        "address": {"street": f"{rng.randint(1, 999)} Main St", "zip": f"{rng.randint(10000, 99999)}"},
        "version": version,
    }


def load_customers(
    table: Any, count: int, seed: int = 7, *, progress: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Write `count` customers with batch writes; returns them. `progress(done)` every 2,500."""
    rng = random.Random(seed)
    items = [customer(rng) for _ in range(count)]
    with table.batch_writer() as batch:
        for done, item in enumerate(items, start=1):
            batch.put_item(Item=item)
            if progress and done % 2_500 == 0 and done < count:
                progress(done)
    return items
