"""Which physical table was a logical table's live table, and since when (cutovers, rollbacks).

The stream follower copies the live-table pointer's SSM history into the archive bucket
(`cdc/table=<logical>/live-periods/<since>-<version>.json`), so readers that need nothing but the
bucket (replay, item history, rebuild from S3) know the live periods. A reader uses them to
- keep only changes of the table that was live when they were made: after a cutover the old
  table may still take late writes, and they are archived (nothing is lost) but are not the
  logical table's history;
- order changes across tables by when they were made, with the live period as tie-break in the
  second of a switch (stream times are whole seconds).
With no recorded history (follower never ran, or the pointer was never moved) every change
counts and the logical table is taken as live throughout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import ArchiveCorrupt

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_ssm import SSMClient

    from dynamodb_dr.cdc.model import Change

RESOLUTION = timedelta(seconds=1)  # stream records are stamped to the second


def timeline_prefix(logical: str) -> str:
    return f"cdc/table={logical}/live-periods/"


def timeline_record(logical: str, since: datetime, table: str, version: int) -> tuple[str, bytes]:
    """The archive object recording that `table` became live at `since` (pointer `version`)."""
    key = f"{timeline_prefix(logical)}{since.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{version:06d}.json"
    body = {"logical": logical, "table": table, "since": since.isoformat(), "version": version}
    return key, json.dumps(body).encode()


class ArchiveReader(Protocol):
    def keys(self, prefix: str) -> Iterator[str]: ...
    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class LiveEpoch:
    table: str
    since: datetime | None  # None: from the beginning


@dataclass(frozen=True)
class LiveTimeline:
    logical: str
    epochs: tuple[LiveEpoch, ...]
    recorded: bool  # False: no history was found, every change counts

    @classmethod
    def from_versions(cls, logical: str, versions: Iterable[tuple[datetime, str]]) -> LiveTimeline:
        """From the pointer's (LastModifiedDate, Value) versions. Before the pointer existed the
        logical table itself was live; a version repeating the live table changes nothing."""
        epochs = [LiveEpoch(logical, None)]
        ordered = sorted(versions)
        for since, table in ordered:
            if table != epochs[-1].table:
                epochs.append(LiveEpoch(table, since))
        return cls(logical, tuple(epochs), recorded=bool(ordered))

    def live_at(self, when: datetime) -> str:
        live = self.epochs[0].table
        for epoch in self.epochs[1:]:
            if epoch.since is not None and epoch.since <= when:
                live = epoch.table
        return live

    def rank(self, change: Change) -> int | None:
        """The live period the change belongs to, or None when its table was not live then.

        A change stamped s was made within [s, s + 1 s): in the second of a switch it may belong
        to either side, so both sides keep their changes there and the earlier period sorts first.
        """
        if not self.recorded:
            return 0
        made_from, made_to = change.approximate_creation, change.approximate_creation + RESOLUTION
        for index, epoch in enumerate(self.epochs):
            if epoch.table != change.source_table:
                continue
            ends = self.epochs[index + 1].since if index + 1 < len(self.epochs) else None
            if (epoch.since is None or made_to > epoch.since) and (ends is None or made_from < ends):
                return index
        return None

    def periods(self, table: str) -> list[tuple[datetime | None, datetime | None]]:
        """The [since, until) periods in which `table` was live."""
        found = []
        for index, epoch in enumerate(self.epochs):
            if epoch.table == table:
                ends = self.epochs[index + 1].since if index + 1 < len(self.epochs) else None
                found.append((epoch.since, ends))
        return found


def read_timeline(store: ArchiveReader, logical: str) -> LiveTimeline:
    versions: list[tuple[datetime, str]] = []
    for key in store.keys(timeline_prefix(logical)):
        if not key.endswith(".json"):
            continue
        try:
            body = json.loads(store.get(key))
            since = datetime.fromisoformat(str(body["since"])).astimezone(UTC)
            versions.append((since, str(body["table"])))
        except (ValueError, KeyError, TypeError):
            raise ArchiveCorrupt(f"live-table record {key!r} unreadable") from None
    return LiveTimeline.from_versions(logical, versions)


class TimelineRecorder:
    """Copies each live-table pointer's SSM history into the archive bucket (the follower)."""

    def __init__(self, ssm: SSMClient, s3: S3Client, bucket: str) -> None:
        self._ssm = ssm
        self._s3 = s3
        self._bucket = bucket

    def record(self, logical: str, parameter: str) -> int:
        """Writes the versions not yet in the bucket; returns how many it wrote."""
        versions = self._versions(parameter, logical)
        prefix = timeline_prefix(logical)
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        with aws_errors(table=logical):
            present = {obj["Key"] for page in pages for obj in page.get("Contents", [])}
        written = 0
        for since, table, version in versions:
            key, body = timeline_record(logical, since, table, version)
            if key in present:
                continue
            with aws_errors(table=logical):
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                )
            written += 1
        return written

    def _versions(self, parameter: str, logical: str) -> Sequence[tuple[datetime, str, int]]:
        from dynamodb_dr.core.aws import error_code

        found: list[tuple[datetime, str, int]] = []
        try:
            with aws_errors(table=logical):
                for page in self._ssm.get_paginator("get_parameter_history").paginate(Name=parameter):
                    for version in page.get("Parameters", []):
                        found.append(_version(version))
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterNotFound":
                return []  # no pointer yet: the logical table itself is live
            raise
        return found


def _version(version: Any) -> tuple[datetime, str, int]:
    return (version["LastModifiedDate"].astimezone(UTC), str(version["Value"]), int(version["Version"]))
