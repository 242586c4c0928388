"""DynamoDB JSON as streams and S3 exports carry it -> the low-level boto3 client's form.

Stream records and export files hold binary values (B, BS) as base64 text; the low-level client
wants bytes (it base64-encodes them itself). The walk goes by type, item -> attribute values ->
M/L recursion, never by "a one-key dict is a type tag": a map attribute named `B` or `SS` is an
attribute name, not a type, and stays untouched.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from dynamodb_dr.core.errors import InvalidInput

SCALAR_TAGS = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})


def item_from_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or a key) in DynamoDB JSON with base64 binaries -> the same item with bytes.

    Raises InvalidInput naming the attribute path (never its value) for anything that is not
    DynamoDB JSON.
    """
    if not isinstance(item, Mapping):
        raise InvalidInput(f"not a DynamoDB JSON item: {type(item).__name__}")
    return {name: _value(value, name) for name, value in item.items()}


def _value(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise InvalidInput(f"attribute {path[:200]}: not a DynamoDB JSON value (one type tag)")
    ((tag, inner),) = value.items()
    if tag in SCALAR_TAGS:
        return {tag: inner}
    if tag == "B":
        return {"B": _bytes(inner, path)}
    if tag == "BS" and isinstance(inner, list):
        return {"BS": [_bytes(v, path) for v in inner]}
    if tag == "M" and isinstance(inner, Mapping):
        return {"M": {name: _value(v, f"{path}.{name}") for name, v in inner.items()}}
    if tag == "L" and isinstance(inner, list):
        return {"L": [_value(v, f"{path}[{i}]") for i, v in enumerate(inner)]}
    raise InvalidInput(f"attribute {path[:200]}: unknown or malformed type {str(tag)[:10]!r}")


def _bytes(value: Any, path: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise InvalidInput(f"attribute {path[:200]}: binary value is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"attribute {path[:200]}: binary value is not valid base64") from None
