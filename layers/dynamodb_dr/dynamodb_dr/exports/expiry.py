"""Chain-aware expiry of S3 exports: an export leaves only when no restore point still needs it.

The archive bucket expires an export's objects (a lifecycle rule on `exports/` filtered by the tag
`EXPIRY_TAG`) only after this module has tagged them; no tool role can delete objects. An export
is tagged once it is older than the retention horizon (now - ExportRetentionDays) *and* older than
the FULL export a rebuild to that horizon starts from: every restore point at or after the horizon
starts from that FULL or a newer one and uses only incrementals that end after it
(`exports/reader.plan_rebuild`), so nothing it needs is ever tagged. When no FULL export lies
before the horizon (FULL exports failing for weeks), nothing expires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.errors import ExportChainError
from dynamodb_dr.exports.chain import TERMINAL, ExportChainStore, ExportRecord
from dynamodb_dr.exports.reader import plan_rebuild

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import TagTypeDef

    from dynamodb_dr.cdc.timeline import LiveTimeline

logger = logging.getLogger(__name__)

EXPIRY_TAG_KEY, EXPIRY_TAG_VALUE = "dynamodb-dr-expired", "true"  # template.yaml: ExpireUnneededExports
EXPIRY_TAG = {"Key": EXPIRY_TAG_KEY, "Value": EXPIRY_TAG_VALUE}
MAX_MARKED_PER_RUN = 200  # exports tagged per table and run; the rest wait for the next FULL tick


def expirable(
    records: list[ExportRecord], horizon: datetime, timeline: LiveTimeline | None = None
) -> list[ExportRecord]:
    """Finished exports that no rebuild to a time at or after `horizon` uses, oldest first."""
    try:
        base = plan_rebuild(records, horizon, timeline).full
    except ExportChainError:
        return []  # no FULL export before the horizon: everything may still be needed
    return sorted(
        (r for r in records if r.status in TERMINAL and r.sk != base.sk and r.window_to <= base.window_to),
        key=lambda r: r.window_to,
    )


class ExportTagger:
    """S3 adapter: tags every object of an export (and its chain index entry) for expiry."""

    def __init__(self, s3: Callable[[], S3Client], bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def tag_prefix(self, prefix: str, table: str) -> int:
        s3 = self._s3()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix.rstrip("/") + "/"
        )
        tagged = 0
        with aws_errors(table=table):
            for page in pages:
                for obj in page.get("Contents", []):
                    self.tag_key(obj["Key"], table)
                    tagged += 1
        return tagged

    def tag_key(self, key: str, table: str) -> None:
        with aws_errors(table=table):
            tag: TagTypeDef = {"Key": EXPIRY_TAG_KEY, "Value": EXPIRY_TAG_VALUE}
            self._s3().put_object_tagging(Bucket=self._bucket, Key=key, Tagging={"TagSet": [tag]})


@dataclass
class ExpiryResult:
    marked: list[str] = field(default_factory=list)  # export sks tagged this run
    objects: int = 0
    pending: int = 0  # expirable exports left for a later run


def mark_expired(
    logical: str,
    *,
    now: datetime,
    retention_days: int,
    store: ExportChainStore,
    tagger: ExportTagger,
    index_key: Callable[[str, str], str],
) -> ExpiryResult:
    """Tag the objects of exports no restore point within `retention_days` needs, once each.

    The record is saved with `expiry_marked_at` only after all its objects are tagged, so a run
    that dies half-way tags the rest next time (tagging again is harmless)."""
    result = ExpiryResult()
    records = store.exports(logical)
    due = [r for r in expirable(records, now - timedelta(days=retention_days)) if r.expiry_marked_at is None]
    result.pending = max(0, len(due) - MAX_MARKED_PER_RUN)
    for record in due[:MAX_MARKED_PER_RUN]:
        result.objects += tagger.tag_prefix(record.s3_prefix, logical)
        if record.status == "COMPLETED":
            tagger.tag_key(index_key(logical, record.sk), logical)
            result.objects += 1
        record.expiry_marked_at = now
        store.save(record)
        result.marked.append(record.sk)
    if result.marked:
        logger.info("exports marked for expiry", extra={"table": logical, "exports": len(result.marked)})
    return result
