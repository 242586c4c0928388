"""What `dynamodb-dr erase` removed from the CDC archive, recorded so it is never taken for a gap.

The purge (cdc/purge.py) rewrites an archive object without an erased key's changes; an object left
with none is rewritten empty, never deleted (a deleted archive object is a gap). Before it does,
it records the changes it removes next to the archive, one record per object:

    cdc/table=<logical>/erased/dt=<day>/hour=<hh>/<stream folder>/<object name>.json

holding each removed change's stream, sequence number and time: no key, no image (outside the
Glue table's partitions). The rewritten object's metadata `erased` says a record exists. A removed
change was archived (its stream had got that far) and is missing on purpose; the readers that
prove the archive complete count it as such:
- the repair's coverage proof (a stream record of the window not in the archive, how far a
  stream's archive reaches), and the rebuild from S3 (how far the archive reaches);
- the archiver, when a retried batch meets an object it wrote before: a removed change counts
  as already archived, so it is never archived again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import AwareDatetime, ConfigDict, Field, ValidationError

from dynamodb_dr.cdc.model import CDC_PREFIX, Change, partition_prefix
from dynamodb_dr.core.errors import ArchiveCorrupt
from dynamodb_dr.core.model import DomainModel

if TYPE_CHECKING:
    from collections.abc import Iterator

ERASED_METADATA = "erased"  # on a rewritten archive object: how many changes its record holds
ERASED_FOLDER = "erased"


class ArchiveKeys(Protocol):
    def keys(self, prefix: str) -> Iterator[str]: ...

    def get(self, key: str) -> bytes: ...


class ErasedChange(DomainModel):
    """One change a purge removed from an archive object (no key, no image)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_table: str = Field(min_length=1)
    stream_label: str = Field(min_length=1)
    sequence_number: str = Field(pattern=r"^[0-9]{1,40}$")
    approximate_creation: AwareDatetime

    @classmethod
    def of(cls, change: Change) -> ErasedChange:
        return cls(
            source_table=change.source_table,
            stream_label=change.stream_label,
            sequence_number=change.sequence_number,
            approximate_creation=change.approximate_creation,
        )

    @property
    def stream(self) -> tuple[str, str]:
        return (self.source_table, self.stream_label)


class ErasedRecord(DomainModel):
    """Every change ever removed from one archive object (purges add to it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object: str = Field(min_length=1)
    changes: tuple[ErasedChange, ...]
    updated_at: AwareDatetime

    def adding(self, removed: Iterable[Change], now: datetime) -> ErasedRecord:
        merged = {int(c.sequence_number): c for c in self.changes}
        for change in removed:
            merged.setdefault(int(change.sequence_number), ErasedChange.of(change))
        changes = tuple(merged[seq] for seq in sorted(merged))
        return ErasedRecord(object=self.object, changes=changes, updated_at=now)

    @property
    def sequences(self) -> set[int]:
        return {int(c.sequence_number) for c in self.changes}


def record_key(object_key: str) -> str:
    """cdc/table=T/dt=D/hour=H/<stream>/<n>.jsonl.gz -> cdc/table=T/erased/dt=D/hour=H/<stream>/<n>.json"""
    table, _, rest = object_key.removeprefix(f"{CDC_PREFIX}/").partition("/")
    return f"{CDC_PREFIX}/{table}/{ERASED_FOLDER}/{rest.removesuffix('.jsonl.gz')}.json"


def hour_prefix(table: str, hour: datetime) -> str:
    """The records of the archive objects of one hour (partition_prefix's counterpart)."""
    partition = partition_prefix(table, hour).removeprefix(f"{CDC_PREFIX}/table={table}/")
    return f"{CDC_PREFIX}/table={table}/{ERASED_FOLDER}/{partition}"


def parse_record(body: bytes, key: str) -> ErasedRecord:
    try:
        return ErasedRecord.model_validate_json(body)
    except ValidationError as exc:
        # Unreadable: nobody can tell what was removed on purpose, so nothing may count on it.
        raise ArchiveCorrupt(f"erasure record {key!r} unreadable ({exc.error_count()} problem(s))") from None


def erased_in_hour(store: ArchiveKeys, table: str, hour: datetime) -> list[ErasedChange]:
    """Every change the purges removed from the table's archive objects of `hour`."""
    found: list[ErasedChange] = []
    for key in store.keys(hour_prefix(table, hour)):
        if key.endswith(".json"):
            found.extend(parse_record(store.get(key), key).changes)
    return found


def erased_between(store: ArchiveKeys, table: str, hours: Iterable[datetime]) -> list[ErasedChange]:
    return [change for hour in hours for change in erased_in_hour(store, table, hour)]


def newest_erased(
    store: ArchiveKeys, table: str, hours: Iterable[datetime], *, start: datetime, end: datetime
) -> datetime | None:
    """The newest change stamped within [start, end] that an erasure removed: the archive got
    there (a shard is archived in order), as surely as if the change were still in it."""
    stamps = [c.approximate_creation for c in erased_between(store, table, hours)]
    return max((s for s in stamps if start <= s <= end), default=None)
