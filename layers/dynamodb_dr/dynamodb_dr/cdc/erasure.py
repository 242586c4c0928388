"""The erasure list: item keys that must stay erased in everything the tool writes back.

`dynamodb-dr erase` records a key with the time it was erased, as one object per key in the archive
bucket (`erasures/table=<logical>/<sha256 of the key>.json`: the key itself never appears in an
object name, and the list travels with the bucket, its replicas and a rebuild that has nothing
else). Every path that writes recovered data applies it:

- a restore (state machine step `ApplyErasures`), a rebuild from S3 and a repair delete each key
  erased *after* the point in time the data they wrote reflects (`apply_erasures`): the copy
  predates the erasure;
- a replay turns the last change of an erased key into a delete when that change was made at or
  before the erasure (`erase_ops`, used by `cdc/replay.py`): a change made later is a new item
  (e.g. the person came back) and is kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, ConfigDict, Field, ValidationError

from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN
from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import ArchiveCorrupt
from dynamodb_dr.core.model import DomainModel

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PREFIX = "erasures"


class Erasure(DomainModel):
    """One erased key of one logical table (DynamoDB JSON key, as in the CDC archive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(pattern=LOGICAL_NAME_PATTERN.pattern)
    key: dict[str, dict[str, Any]] = Field(min_length=1, max_length=2)
    erased_at: AwareDatetime
    reason: str = Field(default="", max_length=500)

    @property
    def key_id(self) -> str:
        return key_id_of(self.key)


def object_key(table: str, key: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(key_id_of(key).encode()).hexdigest()
    return f"{PREFIX}/table={table}/{digest}.json"


class ErasureStore:
    """S3 adapter for the erasure list in the archive bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def record(self, erasure: Erasure) -> str:
        """Write (or move later) one key's erasure; returns its object key."""
        key = object_key(erasure.table, erasure.key)
        with aws_errors(table=erasure.table):
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=erasure.model_dump_json().encode(),
                ContentType="application/json",
            )
        return key

    def entries(self, table: str) -> list[Erasure]:
        """Every erased key of `table` (none when the bucket holds no list for it)."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{PREFIX}/table={table}/"
        )
        found: list[Erasure] = []
        with aws_errors(table=table):
            for page in pages:
                for obj in page.get("Contents", []):
                    body = self._s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                    try:
                        found.append(Erasure.model_validate_json(body))
                    except ValidationError as exc:
                        # An unreadable entry must stop the write-back: skipping it could bring
                        # an erased person back.
                        raise ArchiveCorrupt(
                            f"erasure list entry s3://{self.bucket}/{obj['Key']} is malformed "
                            f"({exc.error_count()} problem(s))",
                            table=table,
                        ) from None
        return found


def load_erasures(s3: S3Client, bucket: str | None, table: str) -> list[Erasure]:
    """The table's erasure list, or none when the stack has no archive bucket."""
    if not bucket:
        return []
    try:
        return ErasureStore(s3, bucket).entries(table)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "NoSuchBucket":
            return []
        raise


@dataclass
class ErasureReport:
    table: str
    listed: int = 0  # erased keys on the list
    deleted: int = 0  # keys deleted because the written data predates their erasure
    kept: list[str] = field(default_factory=list)  # reasons keys were left (never key values)

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "listed": self.listed, "deleted": self.deleted, "kept": self.kept}


def apply_erasures(
    dynamodb: DynamoDBClient, target: str, erasures: Sequence[Erasure], *, as_of: datetime
) -> ErasureReport:
    """Delete from `target` every erased key whose erasure is later than `as_of`, the point in
    time the data written into `target` reflects. Idempotent (DeleteItem of a missing key is a
    no-op). For repair (issue 18) and any other write-back path: call it after writing."""
    report = ErasureReport(target, listed=len(erasures))
    for erasure in erasures:
        if erasure.erased_at <= as_of:
            continue  # the data is newer than the erasure: an item there now was made since
        with aws_errors(table=target):
            dynamodb.delete_item(TableName=target, Key=item_from_json(erasure.key))
        report.deleted += 1
    if erasures:
        logger.info(
            "erasure list applied",
            extra={"table": target, "listed": report.listed, "deleted": report.deleted},
        )
    return report


def erased_before(erasures: Iterable[Erasure]) -> dict[str, datetime]:
    """key id -> the latest time it was erased."""
    latest: dict[str, datetime] = {}
    for erasure in erasures:
        if erasure.key_id not in latest or erasure.erased_at > latest[erasure.key_id]:
            latest[erasure.key_id] = erasure.erased_at
    return latest
