"""Reading S3 exports back: the chain index, the manifests and the data files (DynamoDB JSON)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dynamodb_dr.core.aws import error_code, translate
from dynamodb_dr.core.errors import AccessDenied, DynamoDbDrError, ExportChainError, RebuildFailed
from dynamodb_dr.exports.chain import ExportRecord

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


class ExportStore:
    """Read-only view of the exports of one logical table in the archive bucket (or its replica)."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = "exports") -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def chain(self, logical_name: str) -> list[ExportRecord]:
        """Every finished export recorded in the chain index, oldest first."""
        records = []
        for key in self._keys(f"{self.prefix}/{logical_name}/chain/"):
            try:
                records.append(ExportRecord.model_validate_json(self._get(key)))
            except ValidationError as exc:
                raise ExportChainError(
                    f"malformed chain record s3://{self.bucket}/{key}: {exc.error_count()} problem(s), "
                    f"first: {exc.errors()[0]['msg']}",
                    table=logical_name,
                ) from exc
        return sorted(records, key=lambda r: (r.window_to, r.export_type))

    def data_keys(self, record: ExportRecord) -> list[str]:
        """The data files of one export, from its manifest (manifest-summary -> manifest-files)."""
        if not record.manifest_key:
            raise ExportChainError(f"export {record.sk} has no manifest recorded", table=record.logical_name)
        try:
            summary = json.loads(self._get(record.manifest_key))
            files_key = summary["manifestFilesS3Key"]
            lines = self._get(files_key).decode().splitlines()
            return [json.loads(line)["dataFileS3Key"] for line in lines if line.strip()]
        except (KeyError, ValueError) as exc:
            raise ExportChainError(
                f"malformed manifest of export {record.sk}: {exc}", table=record.logical_name
            ) from exc

    def lines(self, key: str) -> Iterator[dict[str, Any]]:
        body = self._get(key)
        text = gzip.decompress(body) if key.endswith(".gz") else body
        for line in text.decode().splitlines():
            if line.strip():
                yield json.loads(line)

    def _keys(self, prefix: str) -> list[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with self._errors():
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def _get(self, key: str) -> bytes:
        with self._errors():
            return bytes(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def _errors(self) -> Any:
        return _s3_errors(self.bucket)


@contextmanager
def _s3_errors(bucket: str) -> Iterator[None]:
    """Like aws_errors(), with clear messages for what operators hit: no bucket, KMS denied."""
    try:
        yield
    except DynamoDbDrError:
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, ClientError | BotoCoreError):
            raise
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise RebuildFailed(f"bucket {bucket} does not exist (wrong name or region?)") from exc
        if code.startswith("KMS") or "kms" in str(exc).lower():
            raise AccessDenied(f"KMS denied reading s3://{bucket}: {code}: {exc}") from exc
        raise translate(exc) from exc


@dataclass(frozen=True)
class RebuildPlan:
    full: ExportRecord
    incrementals: list[ExportRecord]
    reached: datetime


def plan_rebuild(records: list[ExportRecord], at: datetime) -> RebuildPlan:
    """The newest COMPLETED FULL export at or before `at`, then the incremental windows that
    continue it without a gap, in order, up to `at`.

    An incremental window [a, b] holds the final image (as of b) of every item changed in it, so it
    brings any state between a and b to b: a window may start before the full export's time.
    """
    done = [r for r in records if r.status == "COMPLETED"]
    fulls = sorted((r for r in done if r.export_type == "FULL"), key=lambda r: r.window_to)
    usable = [r for r in fulls if r.window_to <= at]
    if not usable:
        first = f"the first is at {fulls[0].window_to.isoformat()}" if fulls else "there is none"
        raise ExportChainError(f"no completed FULL export at or before {at.isoformat()} ({first})")
    full = usable[-1]
    incrementals = [r for r in done if r.export_type == "INCREMENTAL"]
    for record in incrementals:
        if record.window_from is None or record.window_from >= record.window_to:
            raise ExportChainError(f"incremental export {record.sk} has an invalid window")
    cursor, chosen = full.window_to, list[ExportRecord]()
    while True:
        candidates = [
            r for r in incrementals if r.window_from and r.window_from <= cursor < r.window_to <= at
        ]
        if not candidates:
            return RebuildPlan(full, chosen, cursor)
        step = max(candidates, key=lambda r: r.window_to)
        chosen.append(step)
        cursor = step.window_to
