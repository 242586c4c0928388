"""Order-independent table checksums from a segmented parallel scan.

Each item is canonicalized (DynamoDB JSON, sorted keys, sorted sets) and hashed to 128 bits; a
table's checksum is the sum of its items' hashes modulo 2**128, so segments, pages and scan order
combine by addition. Attribute values never leave this module: only counts and digests do.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynamodb_dr.core.aws import aws_errors

MODULUS = 2**128
# Stop scanning a segment when less than this much Lambda time remains; the state machine loops.
RESERVE_MS = 20_000


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((kind, inner),) = value.items()
            if kind in {"SS", "NS"}:
                return {kind: sorted(inner)}
            if kind == "BS":
                return {kind: sorted(base64.b64encode(bytes(b)).decode() for b in inner)}
            if kind == "B":
                return {kind: base64.b64encode(bytes(inner)).decode()}
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def item_digest(item: dict[str, Any]) -> int:
    """128-bit digest of one item in DynamoDB JSON (as the low-level client returns it)."""
    text = json.dumps(_canonical(item), sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def combine(*checksums: str) -> str:
    return f"{sum(int(c, 16) for c in checksums) % MODULUS:032x}"


def checksum_of(items: list[dict[str, Any]]) -> str:
    return f"{sum(item_digest(i) for i in items) % MODULUS:032x}"


@dataclass(frozen=True)
class SegmentProgress:
    count: int = 0
    checksum: str = "0" * 32
    pages: int = 0
    next_key: dict[str, Any] | None = None
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "checksum": self.checksum,
            "pages": self.pages,
            "next_key": self.next_key,
            "done": self.done,
        }


def scan_segment(
    dynamodb: Any,
    table: str,
    segment: int,
    total: int,
    *,
    progress: SegmentProgress,
    remaining_ms: Callable[[], int],
) -> SegmentProgress:
    """Continue scanning one segment until it ends or the Lambda's time runs short."""
    count, total_sum, pages, start = (
        progress.count,
        int(progress.checksum, 16),
        progress.pages,
        progress.next_key,
    )
    while True:
        request: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total}
        if start:
            request["ExclusiveStartKey"] = start
        with aws_errors(table=table):
            page = dynamodb.scan(**request)
        items = page.get("Items", [])
        count += len(items)
        total_sum = (total_sum + sum(item_digest(i) for i in items)) % MODULUS
        pages += 1
        start = page.get("LastEvaluatedKey")
        if not start or remaining_ms() < RESERVE_MS:
            return SegmentProgress(count, f"{total_sum:032x}", pages, start, done=not start)
