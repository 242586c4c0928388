"""The archive bucket's S3 adapter, written and read only under cdc/ (cdc/archive.py re-exports it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dynamodb_dr.cdc.erased import ERASED_METADATA, ErasedRecord, parse_record, record_key
from dynamodb_dr.cdc.model import NEWEST_CHANGE_METADATA
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import DynamoDbDrError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

CONFLICT_ATTEMPTS = 3
# A missing erasure record reads as AccessDenied to a role without s3:ListBucket (the archiver's).
UNAVAILABLE = ("NoSuchKey", "404", "AccessDenied", "403")


@dataclass(frozen=True)
class Held:
    """An archive object as read: its bytes, its ETag, and how many changes an erasure removed
    from it (its `erased` metadata; their record is beside the archive, cdc/erased.py)."""

    body: bytes
    etag: str
    erased: int = 0


class ArchiveStore:
    """S3 adapter: the archive bucket, written and read only under cdc/.

    Objects are written with conditional requests: `put_new` writes only if the key is free
    (one request on the happy path, no LIST or GET), `replace` only over the version it read.
    """

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put_new(
        self, key: str, body: bytes, records: int, *, newest: datetime | None = None, erased: int = 0
    ) -> bool:
        """Write the object unless the key exists; False when it exists."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with aws_errors():
                    self._s3.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/x-ndjson",
                        Metadata=metadata(records, newest, erased),
                        IfNoneMatch="*",
                    )
                return True
            except DynamoDbDrError as exc:
                code = error_code(exc.__cause__ or exc)
                if code == "PreconditionFailed":
                    return False
                if code != "ConditionalRequestConflict" or attempt + 1 == CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.1 * (attempt + 1))  # another write to this key is in flight: S3 409
        raise AssertionError("unreachable")

    def replace(
        self,
        key: str,
        body: bytes,
        records: int,
        etag: str,
        *,
        newest: datetime | None = None,
        erased: int = 0,
    ) -> None:
        """Overwrite the object only if it is still the version read (its ETag); `erased` keeps
        the mark of an erasure on it."""
        with aws_errors():
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                Metadata=metadata(records, newest, erased),
                IfMatch=etag,
            )

    def keys(self, prefix: str) -> Iterator[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with aws_errors():
            for page in pages:
                yield from (obj["Key"] for obj in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.get_tagged(key).body

    def get_tagged(self, key: str) -> Held:
        """The object's bytes, ETag and erasure mark."""
        with aws_errors():
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            body = bytes(response["Body"].read())
        erased = response.get("Metadata", {}).get(ERASED_METADATA, "0")
        return Held(body, str(response["ETag"]), int(erased) if erased.isdigit() else 1)

    def erased_record(self, key: str) -> ErasedRecord | None:
        """The erasure record of the archive object `key`; None when it cannot be read."""
        where = record_key(key)
        try:
            body = self.get(where)
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) in UNAVAILABLE:
                return None
            raise
        return parse_record(body, where)

    def put_erased_record(self, record: ErasedRecord) -> None:
        """A new object's erasure record (an earlier attempt may have written it: left as is)."""
        try:
            with aws_errors():
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=record_key(record.object),
                    Body=record.model_dump_json().encode(),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) != "PreconditionFailed":
                raise


def metadata(records: int, newest: datetime | None, erased: int = 0) -> dict[str, str]:
    """Object metadata: the posture check reads an object's newest change with one HEAD."""
    found = {"records": str(records)}
    if newest is not None:
        found[NEWEST_CHANGE_METADATA] = newest.astimezone(UTC).isoformat()
    if erased:
        found[ERASED_METADATA] = str(erased)
    return found
