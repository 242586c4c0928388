"""CDC archive model: DynamoDB stream records -> gzip JSON-lines objects with deterministic keys.

One archive line per change keeps everything replay needs, losslessly (images stay in DynamoDB
JSON exactly as the stream delivered them). A delivered batch becomes one object per
(logical table, stream, UTC hour of the changes); `max_records` can split it further. Object keys
depend only on the records they hold, so a retried batch overwrites its objects instead of
duplicating them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import ArchiveCorrupt, MalformedStreamRecord

# restore/archive_check imports the converter under its old name.
binary_to_bytes = item_from_json

CDC_PREFIX = "cdc"
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
SEQ_WIDTH = 40  # DynamoDB sequence numbers have up to 40 digits; padding keeps keys sortable

EventName = Literal["INSERT", "MODIFY", "REMOVE"]


def _named(name: str, **kwargs: Any) -> Any:
    """A field read and written under the stream's own JSON name."""
    return Field(validation_alias=name, serialization_alias=name, **kwargs)


class Change(BaseModel):
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
    keys: dict[str, Any] = _named("Keys", min_length=1)
    new_image: dict[str, Any] | None = _named("NewImage", default=None)
    old_image: dict[str, Any] | None = _named("OldImage", default=None)
    ttl_delete: bool = _named("ttlDelete", default=False)
    size_bytes: int | None = _named("SizeBytes", default=None)

    @property
    def order(self) -> tuple[str, int]:
        """Per-key order: streams by creation (label), then sequence number within the stream."""
        return (self.stream_label, int(self.sequence_number))

    @property
    def key_id(self) -> str:
        """Canonical text of the item's key: equal keys give equal text."""
        return key_id_of(self.keys)

    def to_line(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"), sort_keys=True)


def key_id_of(keys: Mapping[str, Any]) -> str:
    """Canonical text of an item key in DynamoDB JSON: equal keys give equal text."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class StreamSource:
    physical_table: str
    stream_label: str


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
        created = datetime.fromtimestamp(float(dynamodb["ApproximateCreationDateTime"]), UTC)
        return Change(
            table=logical_table(source.physical_table),
            source_table=source.physical_table,
            stream_label=source.stream_label,
            event_id=record["eventID"],
            event_name=record["eventName"],
            sequence_number=dynamodb["SequenceNumber"],
            approximate_creation=created,
            keys=dynamodb["Keys"],
            new_image=dynamodb.get("NewImage"),
            old_image=dynamodb.get("OldImage"),
            ttl_delete=identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL,
            size_bytes=dynamodb.get("SizeBytes"),
        )
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
        text = "".join(change.to_line() + "\n" for change in self.changes)
        return gzip.compress(text.encode(), compresslevel=6, mtime=0)  # same input, same bytes


def partition_prefix(table: str, when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{CDC_PREFIX}/table={table}/dt={when:%Y-%m-%d}/hour={when:%H}/"


def object_key(changes: Sequence[Change]) -> str:
    first, last = changes[0], changes[-1]
    span = f"{first.sequence_number:0>{SEQ_WIDTH}}-{last.sequence_number:0>{SEQ_WIDTH}}"
    return f"{stream_folder(first)}{span}.jsonl.gz"


def _group(change: Change) -> tuple[str, str, str, str]:
    hour = change.approximate_creation.astimezone(UTC).strftime("%Y-%m-%dT%H")
    return (change.table, change.source_table, change.stream_label, hour)


def plan_objects(
    changes: Sequence[Change], max_records: int = 10_000, indices: Sequence[int] | None = None
) -> list[ArchiveObject]:
    """Split changes (in delivery order) into consecutive runs sharing table, stream and hour.

    Runs are cut greedily from the first change, so a retry that resumes at an object's first
    change cuts the same objects again (same keys). `indices` are the changes' batch positions.
    """
    positions = list(indices) if indices is not None else list(range(len(changes)))
    objects: list[ArchiveObject] = []
    run: list[Change] = []
    run_start = 0
    for offset, change in enumerate(changes):
        if run and (_group(change) != _group(run[0]) or len(run) >= max_records):
            objects.append(ArchiveObject(object_key(run), tuple(run), positions[run_start]))
            run, run_start = [], offset
        run.append(change)
    if run:
        objects.append(ArchiveObject(object_key(run), tuple(run), positions[run_start]))
    return objects


def stream_folder(change: Change) -> str:
    """The folder holding one stream's objects for the change's hour."""
    stream = f"{change.source_table}--{change.stream_label.replace(':', '')}"
    return f"{partition_prefix(change.table, change.approximate_creation)}{stream}/"


def sequence_range(key: str) -> tuple[int, int] | None:
    """(first, last) sequence numbers from an object key, or None if it is not an archive object."""
    name = key.rsplit("/", 1)[-1].removesuffix(".jsonl.gz")
    first, _, last = name.partition("-")
    return (int(first), int(last)) if first.isdigit() and last.isdigit() else None


def read_object(body: bytes, key: str = "") -> list[Change]:
    """Archive object bytes -> its changes."""
    try:
        text = gzip.decompress(body).decode()
        return [Change.model_validate_json(line) for line in text.splitlines() if line]
    except (OSError, EOFError, UnicodeDecodeError, ValidationError) as exc:
        raise ArchiveCorrupt(f"archive object {key!r} unreadable: {type(exc).__name__}") from None


def dedupe(changes: Iterable[Change]) -> list[Change]:
    """Drop repeated changes (same stream and sequence number) and sort into per-key order."""
    unique: dict[tuple[str, str, int], Change] = {}
    for change in changes:
        unique.setdefault((change.source_table, change.stream_label, int(change.sequence_number)), change)
    return sorted(unique.values(), key=lambda c: c.order)
