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
