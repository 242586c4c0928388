"""Reading S3 exports back: the chain index, the manifests and the data files (DynamoDB JSON)."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dynamodb_dr.cdc.timeline import LiveTimeline
from dynamodb_dr.core.aws import error_code, translate
from dynamodb_dr.core.errors import (
    AccessDenied,
    DynamoDbDrError,
    ExportChainError,
    ExportManifestMismatch,
    RebuildFailed,
)
from dynamodb_dr.exports.chain import ExportRecord
from dynamodb_dr.exports.manifest import DataFile, Manifest, parse_manifest

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

    def manifest(self, record: ExportRecord) -> Manifest:
        """One export's manifest (manifest-summary -> manifest-files)."""
        if not record.manifest_key:
            raise ExportChainError(f"export {record.sk} has no manifest recorded", table=record.logical_name)
        summary = self._get(record.manifest_key)
        try:
            files_key = json.loads(summary).get("manifestFilesS3Key")
        except (ValueError, AttributeError) as exc:
            raise ExportChainError(
                f"malformed manifest of export {record.sk}: {exc}", table=record.logical_name
            ) from exc
        return parse_manifest(record, summary, self._get(files_key) if files_key else None)

    def data_keys(self, record: ExportRecord) -> list[str]:
        return self.manifest(record).keys

    def lines(self, file: DataFile, manifest: Manifest) -> Iterator[dict[str, Any]]:
        """A data file's lines, checked against the manifest (MD5 first, item count at the end)."""
        body = self._get(file.key)
        file.check_body(body, manifest.export, manifest.table)
        try:
            text = gzip.decompress(body) if file.key.endswith(".gz") else body
            parsed = [json.loads(line) for line in text.decode().splitlines() if line.strip()]
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise ExportManifestMismatch(
                f"export {manifest.export}: data file {file.key} unreadable: {type(exc).__name__}",
                table=manifest.table,
            ) from None
        file.check_count(len(parsed), manifest.export, manifest.table)
        yield from parsed

    def check_for_import(self, manifest: Manifest) -> None:
        """Import-from-S3 reads the whole data folder: it must hold exactly the manifest's
        files, each matching its checksum and item count."""
        folders = {key.rsplit("/", 1)[0] + "/" for key in manifest.keys}
        listed = [key for folder in sorted(folders) for key in self._keys(folder)]
        manifest.check_folder(listed)
        manifest.check_total(
            sum(sum(1 for _ in self.lines(f, manifest)) for f in manifest.files), "its files hold"
        )

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


def _live_since(timeline: LiveTimeline, at: datetime) -> datetime | None:
    since = timeline.epochs[0].since
    for epoch in timeline.epochs[1:]:
        if epoch.since is not None and epoch.since <= at:
            since = epoch.since
    return since


@dataclass(frozen=True)
class RebuildPlan:
    full: ExportRecord
    incrementals: list[ExportRecord]
    reached: datetime


def plan_rebuild(
    records: list[ExportRecord], at: datetime, timeline: LiveTimeline | None = None
) -> RebuildPlan:
    """The newest COMPLETED FULL export at or before `at`, then the incremental windows that
    continue it without a gap, in order, up to `at`.

    An incremental window [a, b] holds the final image (as of b) of every item changed in it, so it
    brings any state between a and b to b: a window may start before the full export's time.
    A plan never mixes physical tables: with the live-table history (cdc/timeline.py) the FULL
    export must be of the table live at `at`, taken since it became live (a cutover or rollback
    swaps the table's whole content); without it, the incrementals follow the FULL's table.
    """
    done = [r for r in records if r.status == "COMPLETED"]
    fulls = sorted((r for r in done if r.export_type == "FULL"), key=lambda r: r.window_to)
    usable = [r for r in fulls if r.window_to <= at]
    scope = ""
    if timeline is not None and timeline.recorded:
        live, since = timeline.live_at(at), _live_since(timeline, at)
        usable = [r for r in usable if r.physical_table == live and (since is None or r.window_to >= since)]
        scope = f" of {live}" + (f", the live table since {since.isoformat()}," if since else "")
    if not usable:
        first = f"the first is at {fulls[0].window_to.isoformat()}" if fulls else "there is none"
        raise ExportChainError(
            f"no completed FULL export{scope} at or before {at.isoformat()} ({first} of any table)"
        )
    full = usable[-1]
    incrementals = [
        r for r in done if r.export_type == "INCREMENTAL" and r.physical_table == full.physical_table
    ]
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
