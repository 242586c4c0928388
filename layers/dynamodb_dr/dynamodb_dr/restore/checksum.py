"""Order-independent table checksums from a segmented parallel scan.

An item's canonical form is its DynamoDB JSON, exactly as the low-level client returns it, with
the typing kept explicit: item -> attribute name -> {type tag: value}, serialized as JSON with
sorted keys (orjson, in C). Sets (SS, NS, BS) are sorted, binaries (B, BS) are their bytes as
Latin-1 text, every other value stays what it is. JSON keeps the whole nested structure, type tags
included, so two different items never share a canonical form: a map attribute whose only key is
`B` or `SS` is a map there, never mistaken for a type tag (the old walk guessed types from one-key
maps, crashed on `{"M": {"B": {"N": "3"}}}` and let `{"M": {"SS": ...}}` values collide).

Each item's canonical form is hashed (SHA-256, first 128 bits); a table's checksum is the sum of
its items' hashes modulo 2**128, so segments, pages and scan order combine by addition and the same
items give the same checksum in the source and in the restored table. Attribute values never leave
this module: only counts and digests do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import orjson

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import RestoreValidationFailed

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

MODULUS = 2**128
# Stop scanning a segment when less than this much Lambda time remains; the state machine loops.
RESERVE_MS = 20_000
_SORT_KEYS = orjson.OPT_SORT_KEYS
_SCALARS = frozenset(("S", "N", "B", "BOOL", "NULL"))  # canonical as they are; the rest is rebuilt


def _binary(value: Any) -> str:
    """orjson's fallback: raw bytes as Latin-1 text (one character per byte: reversible)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    raise TypeError(type(value).__name__)


def _canonical_map(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The map with its sets sorted (recursively), or None when it is canonical already."""
    changed: dict[str, Any] | None = None
    scalar = _SCALARS.issuperset  # bound once: this runs for every attribute of every item
    for name, typed in attributes.items():
        if type(typed) is dict and scalar(typed) and len(typed) == 1:
            continue  # S, N, B, BOOL, NULL: canonical as they are
        replacement = _canonical_value(typed, name)
        if replacement is not None:
            if changed is None:
                changed = dict(attributes)
            changed[name] = replacement
    return changed


def _canonical_value(typed: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(typed, dict) or len(typed) != 1:
        raise RestoreValidationFailed(f"attribute {path[:200]}: not a DynamoDB JSON value (one type tag)")
    ((tag, value),) = typed.items()
    if tag == "M" and type(value) is dict:
        inner = _canonical_map(value)
        return None if inner is None else {"M": inner}
    if tag == "L" and type(value) is list:
        items: list[Any] | None = None
        scalar = _SCALARS.issuperset
        for index, element in enumerate(value):
            if type(element) is dict and scalar(element) and len(element) == 1:
                continue
            replacement = _canonical_value(element, f"{path}[{index}]")
            if replacement is not None:
                if items is None:
                    items = list(value)
                items[index] = replacement
        return None if items is None else {"L": items}
    if tag in {"SS", "NS"} and type(value) is list:
        try:
            return {tag: sorted(value)}
        except TypeError:  # mixed element types: not a DynamoDB set
            raise RestoreValidationFailed(f"attribute {path[:200]}: malformed {tag} set") from None
    if tag == "BS" and type(value) is list:
        return {tag: sorted(_bytes(v, path) for v in value)}
    raise RestoreValidationFailed(f"attribute {path[:200]}: unknown or malformed type {str(tag)[:10]!r}")


def _bytes(value: Any, path: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise RestoreValidationFailed(f"attribute {path[:200]}: a binary set element is not bytes")


def canonical_form(item: Mapping[str, Any]) -> bytes:
    """The item's canonical bytes (DynamoDB JSON, low-level client form: B/BS as bytes)."""
    if not isinstance(item, dict):
        raise RestoreValidationFailed(f"not a DynamoDB item: {type(item).__name__}")
    try:
        canonical = _canonical_map(item)
        return orjson.dumps(item if canonical is None else canonical, default=_binary, option=_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # a value DynamoDB JSON never holds; never echo it
        raise RestoreValidationFailed("item is not DynamoDB JSON (a value of no DynamoDB type)") from None


def item_digest(item: Mapping[str, Any]) -> int:
    """128-bit digest of one item in DynamoDB JSON (as the low-level client returns it)."""
    return int.from_bytes(sha256(canonical_form(item)).digest()[:16])


def combine(*checksums: str) -> str:
    return f"{sum(int(c, 16) for c in checksums) % MODULUS:032x}"


def checksum_of(items: list[dict[str, Any]]) -> str:
    return f"{sum(map(item_digest, items)) % MODULUS:032x}"


# ------------------------------------------------------------------ continuation keys as JSON
# A segment that runs out of Lambda time hands DynamoDB's LastEvaluatedKey to the state machine,
# which passes it back as the next ExclusiveStartKey. Key attributes are S, N or B; a B value is
# bytes, which JSON (Lambda's response, Step Functions' state) cannot carry: it travels as base64
# text, as in DynamoDB JSON on the wire, and is decoded back before the next Scan.


def key_to_json(key: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not key:
        return None
    out: dict[str, Any] = {}
    for name, typed in key.items():
        ((tag, value),) = typed.items()
        out[name] = {"B": base64.b64encode(bytes(value)).decode("ascii")} if tag == "B" else {tag: value}
    return out


def key_from_json(key: Any) -> dict[str, Any] | None:
    if key is None:
        return None
    if not isinstance(key, dict) or not key:
        raise RestoreValidationFailed("segment progress: next_key is not a DynamoDB key")
    out: dict[str, Any] = {}
    for name, typed in key.items():
        if not isinstance(typed, dict) or len(typed) != 1:
            raise RestoreValidationFailed(f"segment progress: key attribute {str(name)[:200]} is malformed")
        ((tag, value),) = typed.items()
        if tag in ("S", "N") and isinstance(value, str):
            out[name] = {tag: value}
        elif tag == "B" and isinstance(value, str):
            try:
                out[name] = {"B": base64.b64decode(value, validate=True)}
            except (binascii.Error, ValueError):
                raise RestoreValidationFailed(
                    f"segment progress: key attribute {str(name)[:200]} is not base64"
                ) from None
        else:
            raise RestoreValidationFailed(f"segment progress: key attribute {str(name)[:200]} is malformed")
    return out


@dataclass(frozen=True)
class SegmentProgress:
    count: int = 0
    checksum: str = "0" * 32
    pages: int = 0
    next_key: dict[str, Any] | None = None  # JSON form (see key_to_json)
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
    dynamodb: DynamoDBClient,
    table: str,
    segment: int,
    total: int,
    *,
    progress: SegmentProgress,
    remaining_ms: Callable[[], int],
) -> SegmentProgress:
    """Continue scanning one segment until it ends or the Lambda's time runs short.

    A hand loop, not a paginator: it must stop between pages when time runs short and hand the
    continuation key to the state machine.
    """
    count, total_sum, pages = progress.count, int(progress.checksum, 16), progress.pages
    start = key_from_json(progress.next_key)
    while True:
        with aws_errors(table=table):
            if start:
                page = dynamodb.scan(
                    TableName=table, Segment=segment, TotalSegments=total, ExclusiveStartKey=start
                )
            else:
                page = dynamodb.scan(TableName=table, Segment=segment, TotalSegments=total)
        items = page.get("Items", [])
        count += len(items)
        total_sum = (total_sum + sum(map(item_digest, items))) % MODULUS
        pages += 1
        start = page.get("LastEvaluatedKey")
        if not start or remaining_ms() < RESERVE_MS:
            return SegmentProgress(count, f"{total_sum:032x}", pages, key_to_json(start), done=not start)
