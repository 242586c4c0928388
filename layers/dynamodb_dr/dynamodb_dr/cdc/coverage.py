"""Since when the CDC archive holds every change of a stream, and when a stream stopped being live.

The stream follower knows what the archive alone cannot: when it created (or re-enabled) the
archiver's mapping on a stream, and whether records may have been trimmed before the mapping read
them. It records that as small marker objects per stream (never per change):

    cdc/streams/<physical>--<label>/coverage/<since>.json   every change from <since> on is archived
                                                            unless a dead letter says otherwise
    cdc/streams/<physical>--<label>/retired/<when>.json     the stream stopped being the live one

The newest coverage marker wins (a mapping re-created after a long outage moves it forward). The
posture check reads them to say how far the archive provably reaches; the follower reads the
retired markers to keep draining a replaced stream for the stream's retention before it deletes
the mapping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

STREAMS_PREFIX: Final = "cdc/streams/"
STREAM_RETENTION: Final = timedelta(hours=24)  # DynamoDB Streams keeps records for 24 hours
# TRIM_HORIZON reads what is still in the stream: records younger than the retention, less a margin
# for records trimmed early and for the time the mapping takes to start.
TRIM_HORIZON_REACH: Final = STREAM_RETENTION - timedelta(hours=1)
_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class StreamId:
    physical_table: str
    label: str

    @classmethod
    def from_arn(cls, arn: str) -> StreamId:
        """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>"""
        from dynamodb_dr.cdc.model import parse_stream_arn

        source = parse_stream_arn(arn)
        return cls(source.physical_table, source.stream_label)

    @property
    def folder(self) -> str:
        return f"{STREAMS_PREFIX}{self.physical_table}--{self.label.replace(':', '')}/"

    @property
    def created(self) -> datetime | None:
        """When the stream was enabled: its label is that moment (UTC, ISO 8601)."""
        try:
            value = datetime.fromisoformat(self.label)
        except ValueError:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def coverage_since_after_create(stream: StreamId, now: datetime) -> datetime:
    """A new TRIM_HORIZON mapping reads everything the stream still holds."""
    horizon = now - TRIM_HORIZON_REACH
    created = stream.created
    return max(created, horizon) if created else horizon


class CoverageStore:
    """S3 adapter for the markers (the follower writes them, the posture check reads them)."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def coverage_since(self, stream: StreamId) -> datetime | None:
        """The newest coverage marker of the stream, or None if the follower recorded none."""
        return self._newest(f"{stream.folder}coverage/")

    def retired_at(self, stream: StreamId) -> datetime | None:
        return self._oldest(f"{stream.folder}retired/")

    def record_coverage(self, stream: StreamId, since: datetime, reason: str, now: datetime) -> None:
        self._put(f"{stream.folder}coverage/", since, {"reason": reason, "written_at": now.isoformat()})

    def record_retired(self, stream: StreamId, when: datetime) -> None:
        self._put(f"{stream.folder}retired/", when, {"reason": "no longer the live table's stream"})

    def _put(self, prefix: str, when: datetime, body: dict[str, str]) -> None:
        key = f"{prefix}{when.astimezone(UTC):{_STAMP}}.json"
        with aws_errors():
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=json.dumps({"at": when.isoformat(), **body}).encode(),
                ContentType="application/json",
            )

    def _stamps(self, prefix: str) -> list[datetime]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        stamps = []
        with aws_errors():
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :].removesuffix(".json")
                    try:
                        stamps.append(datetime.strptime(name, _STAMP).replace(tzinfo=UTC))
                    except ValueError:
                        continue  # not a marker of ours
        return stamps

    def _newest(self, prefix: str) -> datetime | None:
        return max(self._stamps(prefix), default=None)

    def _oldest(self, prefix: str) -> datetime | None:
        return min(self._stamps(prefix), default=None)
