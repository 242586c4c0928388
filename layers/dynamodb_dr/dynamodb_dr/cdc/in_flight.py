"""Changes of erased keys still on their way to the CDC archive when `dynamodb-dr erase` purges it.

The archiver stores a stream record seconds after its change (Lambda's batching window), later
when it is behind. A change made before the erasure but archived after the purge would keep the
person's history in the archive: typically the application's own delete of the item, made just
before `erase`. So after purging, the erase reads the live table's stream (what it still holds, up
to a limit): every record of an erased key made at or before its erasure must have been archived
and removed (the purge records it, cdc/erased.py). The others are pending: while an enabled
archiver mapping reads the stream they will arrive, and the erase waits to purge them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from dynamodb_dr.cdc.erased import ArchiveKeys, erased_between
from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.cdc.stream_scan import scan_stream
from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient
    from types_boto3_lambda import LambdaClient

ACTIVE_MAPPING = ("Enabled", "Enabling", "Creating", "Updating")


@dataclass(frozen=True)
class StreamChange:
    """A stream record of an erased key: its sequence number and time (the key stays in memory)."""

    sequence: str
    created: datetime
    key_id: str

    @property
    def hour(self) -> datetime:
        return self.created.replace(minute=0, second=0, microsecond=0)


class ErasedKeyRecords:
    """Reads a stream (every shard, from its trim horizon) for the records of some keys."""

    def __init__(self, streams: DynamoDBStreamsClient) -> None:
        self._streams = streams

    def find(self, stream_arn: str, key_ids: set[str], limit: int) -> tuple[list[StreamChange], bool]:
        """The keys' records, and True when `limit` records were read before the end."""
        records, truncated = scan_stream(self._streams, stream_arn, limit)
        changes = (StreamChange(r.sequence, r.created, key_id_of(r.keys)) for r in records)
        return [c for c in changes if c.key_id in key_ids], truncated


def made_before_erasure(
    changes: Sequence[StreamChange], erased_at: Mapping[str, datetime]
) -> list[StreamChange]:
    """The records of changes made at or before their key's erasure (later ones are kept)."""
    return [c for c in changes if c.key_id in erased_at and c.created <= erased_at[c.key_id]]


def not_yet_erased(store: ArchiveKeys, table: str, changes: Sequence[StreamChange]) -> list[StreamChange]:
    """Those not recorded as removed from the archive: not archived yet (or archived since the
    purge, still to be removed)."""
    hours = sorted({c.hour for c in changes})
    erased = {int(c.sequence_number) for c in erased_between(store, table, hours)}
    return [c for c in changes if int(c.sequence) not in erased]


def archiver_reads(lambda_client: LambdaClient, function: str, stream_arn: str) -> bool:
    """Whether an archiver mapping on the stream is (or is becoming) enabled."""
    pages = lambda_client.get_paginator("list_event_source_mappings").paginate(
        FunctionName=function, EventSourceArn=stream_arn
    )
    with aws_errors():
        return any(
            m.get("State") in ACTIVE_MAPPING for page in pages for m in page.get("EventSourceMappings", [])
        )
