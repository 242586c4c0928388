"""CDC archive model: DynamoDB stream records -> gzip JSON-lines objects with deterministic keys.

One archive line per change keeps everything replay needs, losslessly (images stay in DynamoDB
JSON exactly as the stream delivered them). A delivered batch becomes one object per
(logical table, stream, UTC hour of the changes); `max_records` can split it further. Object keys
depend only on the records they hold, so a retried batch overwrites its objects instead of
duplicating them.
"""

from __future__ import annotations

import gzip
import heapq
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, ConfigDict, Field, InstanceOf, ValidationError, field_validator

from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import ArchiveCorrupt, MalformedStreamRecord
from dynamodb_dr.core.model import DomainModel

# restore/archive_check imports the converter under its old name.
binary_to_bytes = item_from_json

CDC_PREFIX = "cdc"
NEWEST_CHANGE_METADATA = "newest-change"  # an archive object's newest change (posture HEADs it)
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
SEQ_WIDTH = 40  # DynamoDB sequence numbers have up to 40 digits; padding keeps keys sortable
# Level 1: a third of level 6's CPU for ~40% more bytes (docs/performance.md, "CDC archiver").
GZIP_LEVEL = 1

EventName = Literal["INSERT", "MODIFY", "REMOVE"]


def _named(name: str, **kwargs: Any) -> Any:
    """A field read and written under the stream's own JSON name."""
    return Field(validation_alias=name, serialization_alias=name, **kwargs)


class Change(DomainModel):
    """One archived change (one line of an archive object). JSON names follow the stream's.

    Hand-written rather than Powertools' DynamoDBStreamEvent model: that model deserializes the
    images into Python types (Decimal, set, bytes), which would make the archive lossy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    table: str  # logical name of the protected table
    source_table: str = _named("sourceTable")  # physical table the change happened in
    stream_label: str = _named("streamLabel")
    event_id: str = _named("eventID", min_length=1)
    event_name: EventName = _named("eventName")
    sequence_number: str = _named("SequenceNumber", pattern=r"^[0-9]{1,40}$")
    approximate_creation: AwareDatetime = _named("ApproximateCreationDateTime")
    # Images stay DynamoDB JSON, never looked into: checked to be objects, not copied (a copy of
    # each image was ~40% of a change's validation, the archiver's hottest path).
    keys: InstanceOf[dict[str, Any]] = _named("Keys")
    new_image: InstanceOf[dict[str, Any]] | None = _named("NewImage", default=None)
    old_image: InstanceOf[dict[str, Any]] | None = _named("OldImage", default=None)
    ttl_delete: bool = _named("ttlDelete", default=False)
    size_bytes: int | None = _named("SizeBytes", default=None)
    # The live period of the logical table the change belongs to (cdc/timeline.py), set when it
    # is read through the live-table history; never stored in the archive.
    live_epoch: int = Field(default=0, ge=0, exclude=True)

    @field_validator("keys")
    @classmethod
    def _some_key(cls, keys: dict[str, Any]) -> dict[str, Any]:
        if not keys:
            raise ValueError("an item key has at least one attribute")
        return keys

    @property
    def order(self) -> tuple[datetime, int, str, int]:
        """When the change was made (across tables: after a cutover or a rollback the stream
        labels no longer say which table's change came later), then the live period in the
        second of a switch, then the stream and its sequence number (deterministic)."""
        return (self.approximate_creation, self.live_epoch, self.stream_label, int(self.sequence_number))

    @property
    def key_id(self) -> str:
        """Canonical text of the item's key: equal keys give equal text."""
        return key_id_of(self.keys)

    def to_line(self) -> str:
        return self.line_bytes().decode()

    def line_bytes(self) -> bytes:
        """The archive line: the same bytes as `model_dump_json(by_alias=True)` (fixed field
        order, so the same change gives the same line), by orjson: ~1.5x faster on images."""
        line = {
            "table": self.table,
            "sourceTable": self.source_table,
            "streamLabel": self.stream_label,
            "eventID": self.event_id,
            "eventName": self.event_name,
            "SequenceNumber": self.sequence_number,
            "ApproximateCreationDateTime": self.approximate_creation,
            "Keys": self.keys,
            "NewImage": self.new_image,
            "OldImage": self.old_image,
            "ttlDelete": self.ttl_delete,
            "SizeBytes": self.size_bytes,
        }
        return orjson.dumps(line, option=orjson.OPT_UTC_Z)


def key_id_of(keys: Mapping[str, Any]) -> str:
    """Canonical text of an item key in DynamoDB JSON: equal keys give equal text (numbers are
    compared by value, as DynamoDB does: N "0.50" and N "0.5" are one key)."""
    canonical = {
        name: {"N": _number_text(value["N"])} if isinstance(value, Mapping) and "N" in value else value
        for name, value in keys.items()
    }
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def _number_text(text: Any) -> Any:
    try:
        number = Decimal(str(text))
    except ArithmeticError:
        return text
    if not number.is_finite():
        return text
    return "0" if number == 0 else format(number.normalize(), "f")


@dataclass(frozen=True)
class StreamSource:
    physical_table: str
    stream_label: str


@lru_cache(maxsize=64)  # a batch's records share their shard's ARN
def parse_stream_arn(arn: str) -> StreamSource:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>"""
    try:
        resource = arn.split(":", 5)[5]
        kind, table, stream, label = resource.split("/", 3)
    except (IndexError, ValueError):
        raise MalformedStreamRecord(f"not a DynamoDB stream ARN: {arn[:200]!r}") from None
    if kind != "table" or stream != "stream" or not table or not label:
        raise MalformedStreamRecord(f"not a DynamoDB stream ARN: {arn[:200]!r}")
    return StreamSource(table, label)


def sequence_of(record: Mapping[str, Any]) -> str | None:
    """The record's sequence number, if it has a usable one (the batch failure identifier)."""
    dynamodb = record.get("dynamodb") if isinstance(record, Mapping) else None
    seq = dynamodb.get("SequenceNumber") if isinstance(dynamodb, Mapping) else None
    return seq if isinstance(seq, str) and seq.isdigit() else None


def change_from_record(record: Mapping[str, Any], logical_table: Callable[[str], str]) -> Change:
    """Lambda-shaped DynamoDB stream record -> Change. `logical_table` maps physical -> logical."""
    try:
        dynamodb = record["dynamodb"]
        source = parse_stream_arn(str(record["eventSourceARN"]))
        identity = record.get("userIdentity") or {}
        ttl = identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL
        created = datetime.fromtimestamp(float(dynamodb["ApproximateCreationDateTime"]), UTC)
        fields = {
            "table": logical_table(source.physical_table),
            "source_table": source.physical_table,
            "stream_label": source.stream_label,
            "event_id": record["eventID"],
            "event_name": record["eventName"],
            "sequence_number": dynamodb["SequenceNumber"],
            "approximate_creation": created,
            "keys": dynamodb["Keys"],
            "new_image": dynamodb.get("NewImage"),
            "old_image": dynamodb.get("OldImage"),
            "ttl_delete": ttl,
            "size_bytes": dynamodb.get("SizeBytes"),
        }
        # The model's validator itself: Change(**fields) adds a Python frame per record (hot path).
        return Change.__pydantic_validator__.validate_python(fields)  # type: ignore[no-any-return]
    except MalformedStreamRecord:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, ValidationError) as exc:
        # Only the failure's shape is reported: item values never reach the logs.
        raise MalformedStreamRecord(
            f"unusable stream record: {type(exc).__name__} {_field_hint(exc)}"
        ) from None


def _field_hint(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return ",".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())[:200]
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!s:.50}"
    return ""


@dataclass(frozen=True)
class ArchiveObject:
    key: str
    changes: tuple[Change, ...]
    first_index: int  # position of the first change in the delivered batch

    def body(self) -> bytes:
        text = b"\n".join([change.line_bytes() for change in self.changes]) + b"\n"
        # mtime=0: the same changes give the same bytes.
        return gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)


def partition_prefix(table: str, when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{CDC_PREFIX}/table={table}/dt={when:%Y-%m-%d}/hour={when:%H}/"


def object_key(changes: Sequence[Change]) -> str:
    """Keyed by the first change only: whatever the retry's batch, its object that starts with
    the same change meets the earlier attempt's object at the same key."""
    first = changes[0]
    return f"{stream_folder(first)}{first.sequence_number:0>{SEQ_WIDTH}}.jsonl.gz"


def _group(change: Change) -> tuple[str, str, str, int]:
    hour = int(change.approximate_creation.timestamp() // 3600)  # the UTC hour (no strftime: hot)
    return (change.table, change.source_table, change.stream_label, hour)


def next_object(changes: Sequence[Change], start: int, max_records: int) -> ArchiveObject:
    """The run of changes from `start` (delivery order) sharing table, stream and hour, at most
    `max_records` long. Cut from `start` only, so a retry resuming there cuts it again."""
    group, end = _group(changes[start]), start + 1
    while end < len(changes) and end - start < max_records and _group(changes[end]) == group:
        end += 1
    run = tuple(changes[start:end])
    return ArchiveObject(object_key(run), run, start)


def plan_objects(
    changes: Sequence[Change], max_records: int = 10_000, indices: Sequence[int] | None = None
) -> list[ArchiveObject]:
    """Every object of a batch written in one go (no earlier attempt). `indices` are the
    changes' batch positions."""
    positions = list(indices) if indices is not None else list(range(len(changes)))
    objects, start = [], 0
    while start < len(changes):
        obj = next_object(changes, start, max_records)
        objects.append(ArchiveObject(obj.key, obj.changes, positions[start]))
        start += len(obj.changes)
    return objects


def stream_folder(change: Change) -> str:
    """The folder holding one stream's objects for the change's hour."""
    stream = f"{change.source_table}--{change.stream_label.replace(':', '')}"
    return f"{partition_prefix(change.table, change.approximate_creation)}{stream}/"


def read_object(body: bytes, key: str = "") -> list[Change]:
    """Archive object bytes -> its changes; anything unreadable is ArchiveCorrupt naming the key."""
    try:
        text = gzip.decompress(body)
        return [Change.model_validate_json(line) for line in text.splitlines() if line]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValidationError, ValueError) as exc:
        raise ArchiveCorrupt(f"archive object {key!r} unreadable: {type(exc).__name__}") from None


def dedupe(changes: Iterable[Change]) -> list[Change]:
    """Drop repeated changes (same stream and sequence number) and put them in the order they
    were made: within a stream by sequence number (always), streams merged by `Change.order`."""
    streams: dict[tuple[str, str], dict[int, Change]] = {}
    for change in changes:
        stream = streams.setdefault((change.source_table, change.stream_label), {})
        stream.setdefault(int(change.sequence_number), change)
    runs = [[s[seq] for seq in sorted(s)] for _, s in sorted(streams.items())]
    return list(heapq.merge(*runs, key=lambda c: c.order))
