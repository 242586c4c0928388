"""Item images as the repair compares, sizes and stores them.

Two forms meet here: the archive's (DynamoDB JSON with base64 binaries, "wire") and the low-level
client's (bytes). Equality goes through `canonical`, which makes the two comparable and follows
DynamoDB's own notion of equal items: numbers by value (N "1.50" == N "1.5"), sets unordered.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dynamodb_dr.core.dynamo_json import item_from_json

KB = 1024


def to_client(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Archive (wire) image -> the low-level client's form (bytes for binaries)."""
    return None if image is None else item_from_json(image)


def to_wire(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Client item -> wire form (base64 binaries), the form plans are stored in."""
    return None if item is None else {name: _wire(value) for name, value in item.items()}


def _wire(value: Mapping[str, Any]) -> dict[str, Any]:
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": _b64(inner)}
    if tag == "BS":
        return {"BS": [_b64(v) for v in inner]}
    if tag == "M":
        return {"M": {k: _wire(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_wire(v) for v in inner]}
    return {tag: inner}


def _b64(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode() if isinstance(value, bytes | bytearray) else str(value)


def canonical(item: Mapping[str, Any] | None) -> Any:
    """A comparable form of an item in either form (None for an absent item)."""
    if item is None:
        return None
    return tuple(sorted((name, _canonical(value)) for name, value in item.items()))


def _canonical(value: Mapping[str, Any]) -> Any:
    ((tag, inner),) = value.items()
    return (tag, _CANONICAL.get(tag, lambda v: v)(inner))


def _number(text: Any) -> Any:
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    return Decimal(0) if number == 0 else number.normalize()


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return base64.b64decode(str(value))


def same_item(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return bool(canonical(a) == canonical(b))


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes as DynamoDB counts them for capacity (names + values; close, not exact)."""
    if not item:
        return 0
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def _size(value: Mapping[str, Any]) -> int:
    ((tag, inner),) = value.items()
    return int(_SIZES.get(tag, lambda v: len(str(v)))(inner))


def _number_size(text: Any) -> int:
    digits = str(text).lstrip("-").replace(".", "").strip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def write_units(*items: Mapping[str, Any] | None) -> int:
    """Write capacity units a write costs: the larger of the old and new item, per started KB
    (a conditional write that fails costs the same)."""
    return max(1, math.ceil(max(item_size(i) for i in items) / KB)) if items else 1


def expired(item: Mapping[str, Any] | None, ttl_attribute: str | None, now: datetime) -> bool:
    """Has this item's TTL passed (DynamoDB deletes it, or already did)?"""
    if not item or not ttl_attribute:
        return False
    value = item.get(ttl_attribute)
    if not isinstance(value, Mapping) or "N" not in value:
        return False  # DynamoDB only expires numeric epoch seconds
    try:
        return Decimal(str(value["N"])) <= Decimal(int(now.timestamp()))
    except InvalidOperation:
        return False


# Per type tag, after the functions they call.
_CANONICAL: dict[str, Any] = {
    "N": _number,
    "NS": lambda v: tuple(sorted(_number(n) for n in v)),
    "B": _bytes,
    "BS": lambda v: tuple(sorted(_bytes(b) for b in v)),
    "SS": lambda v: tuple(sorted(v)),
    "M": lambda v: tuple(sorted((k, _canonical(m)) for k, m in v.items())),
    "L": lambda v: tuple(_canonical(m) for m in v),
}


_SIZES: dict[str, Any] = {
    "S": lambda v: len(str(v).encode()),
    "N": _number_size,
    "B": lambda v: len(_bytes(v)),
    "BOOL": lambda v: 1,
    "NULL": lambda v: 1,
    "SS": lambda v: sum(len(str(s).encode()) for s in v),
    "NS": lambda v: sum(_number_size(n) for n in v),
    "BS": lambda v: sum(len(_bytes(b)) for b in v),
    "M": lambda v: 3 + sum(1 + len(k.encode()) + _size(m) for k, m in v.items()),
    "L": lambda v: 3 + sum(1 + _size(m) for m in v),
}
