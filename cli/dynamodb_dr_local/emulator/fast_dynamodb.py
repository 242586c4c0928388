"""A fast response path for moto's DynamoDB item reads.

moto 5.2 serializes every response through a generic shape walker; for Scan/Query of ~1 KB items
that costs milliseconds per item (a 10,000-item scan took ~15 s, most of a drill's runtime). The
awsJson wire form of these results is the result dict itself, so we dump it directly and fall
back to moto's serializer for anything else (errors, datetimes, other operations).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

FAST_OPERATIONS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem"})


class _NotPlainJson(TypeError):
    pass


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise _NotPlainJson(type(value).__name__)


def install(set_attribute: Callable[[Any, str, Any], None]) -> None:
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in FAST_OPERATIONS and isinstance(self.result, dict):
            try:
                body = json.dumps({k: v for k, v in self.result.items() if v is not None}, default=_encode)
            except _NotPlainJson:
                return original(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    set_attribute(DynamoResult, "execute_result", execute_result)
    _install_binary_key_segments(set_attribute)


def _install_binary_key_segments(set_attribute: Callable[[Any, str, Any], None]) -> None:
    """moto's segmented Scan hashes the partition key as text and fails on a binary (B) key;
    AWS segments any key type. Same segment assignment as moto's for S/N keys."""
    import hashlib

    from moto.dynamodb.models.dynamo_type import Item

    def is_within_segment(self: Any, segments: tuple[int, int] | tuple[None, None]) -> bool:
        segment, total = segments
        if segment is None or total is None:  # a Scan without segments
            return True
        value = self.hash_key.value
        raw = value if isinstance(value, bytes) else str(value).encode("utf8")
        return segment == hashlib.md5(raw, usedforsecurity=False).digest()[0] % total

    set_attribute(Item, "is_within_segment", is_within_segment)
