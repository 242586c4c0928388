"""S3 adapter for repair plans, checkpoints and outcomes, in the archive bucket under repairs/.

    repairs/table=<logical>/<repair id>/plan.json            the header (request, counts, lanes)
    repairs/table=<logical>/<repair id>/entries/<chunk>.jsonl.gz   keys to write, in chunks
    repairs/table=<logical>/<repair id>/skipped.jsonl.gz     keys left alone and why (keys only)
    repairs/table=<logical>/<repair id>/progress/<lane>.json checkpoints
    repairs/table=<logical>/<repair id>/outcomes/<chunk>.json
    repairs/table=<logical>/<repair id>/sample.json          a sample of the affected keys (keys only)
    repairs/table=<logical>/<repair id>/report.json          the final report, with that sample
    repairs/index/<repair id>.json                           repair id -> table (for resume/undo)

Plans hold item images (customer data): they stay in the KMS-encrypted, non-public bucket, like
the CDC archive they come from, and never reach logs or notifications.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import ArchiveCorrupt, DynamoDbDrError, RepairRequestInvalid
from dynamodb_dr.repair.models import ChunkOutcome, LaneProgress, PlanEntry, PlanHeader

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

PREFIX = "repairs"


def repair_prefix(table: str, repair_id: str) -> str:
    return f"{PREFIX}/table={table}/{repair_id}/"


class RepairStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    # ------------------------------------------------------------ raw objects
    def _put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        with aws_errors():
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def _get(self, key: str) -> bytes | None:
        try:
            with aws_errors():
                return bytes(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def _json(self, key: str) -> Any:
        body = self._get(key)
        if body is None:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise ArchiveCorrupt(f"repair record {key!r} unreadable") from None

    # ------------------------------------------------------------ plan
    def save_plan(
        self, header: PlanHeader, chunks: Sequence[Sequence[PlanEntry]], skipped: Iterable[dict[str, Any]]
    ) -> None:
        """Entries first, header last: a plan whose header exists is complete."""
        prefix = repair_prefix(header.table, header.repair_id)
        for number, chunk in enumerate(chunks):
            lines = "".join(entry.model_dump_json() + "\n" for entry in chunk).encode()
            self._put(
                f"{prefix}entries/{number:06d}.jsonl.gz", gzip.compress(lines, mtime=0), "application/gzip"
            )
        rows = "".join(json.dumps(row, sort_keys=True) + "\n" for row in skipped).encode()
        self._put(f"{prefix}skipped.jsonl.gz", gzip.compress(rows, mtime=0), "application/gzip")
        self._put(f"{prefix}plan.json", header.model_dump_json(indent=2).encode())
        index = {"repair_id": header.repair_id, "table": header.table}
        self._put(f"{PREFIX}/index/{header.repair_id}.json", json.dumps(index).encode())

    def table_of(self, repair_id: str) -> str:
        found = self._json(f"{PREFIX}/index/{repair_id}.json")
        if not isinstance(found, dict) or "table" not in found:
            raise RepairRequestInvalid(f"no stored repair plan {repair_id!r} (was it a dry run?)")
        return str(found["table"])

    def header(self, table: str, repair_id: str) -> PlanHeader:
        found = self._json(f"{repair_prefix(table, repair_id)}plan.json")
        if found is None:
            raise RepairRequestInvalid(f"no stored repair plan {repair_id!r} for {table}")
        return PlanHeader.model_validate(found)

    def entries(self, header: PlanHeader, chunk: int) -> list[PlanEntry]:
        key = f"{repair_prefix(header.table, header.repair_id)}entries/{chunk:06d}.jsonl.gz"
        body = self._get(key)
        if body is None:
            raise ArchiveCorrupt(f"repair plan chunk {key!r} is missing")
        try:
            return [
                PlanEntry.model_validate_json(line) for line in gzip.decompress(body).splitlines() if line
            ]
        except (OSError, EOFError, ValueError) as exc:
            raise ArchiveCorrupt(f"repair plan chunk {key!r} unreadable: {type(exc).__name__}") from None

    # ------------------------------------------------------------ progress
    def progress(self, header: PlanHeader, lane: int) -> LaneProgress:
        found = self._json(f"{repair_prefix(header.table, header.repair_id)}progress/{lane:03d}.json")
        if found is None:
            return LaneProgress(lane=lane, next_chunk=header.lanes[lane].first_chunk)
        return LaneProgress.model_validate(found)

    def save_progress(self, header: PlanHeader, progress: LaneProgress) -> None:
        key = f"{repair_prefix(header.table, header.repair_id)}progress/{progress.lane:03d}.json"
        self._put(key, progress.model_dump_json().encode())

    def outcome(self, header: PlanHeader, chunk: int) -> ChunkOutcome | None:
        found = self._json(f"{repair_prefix(header.table, header.repair_id)}outcomes/{chunk:06d}.json")
        return None if found is None else ChunkOutcome.model_validate(found)

    def save_outcome(self, header: PlanHeader, outcome: ChunkOutcome) -> None:
        key = f"{repair_prefix(header.table, header.repair_id)}outcomes/{outcome.chunk:06d}.json"
        self._put(key, outcome.model_dump_json().encode())

    # ------------------------------------------------------------ keys sample and report
    def save_sample(self, table: str, repair_id: str, sample: dict[str, Any]) -> str:
        """A sample of the affected keys (keys only), kept out of the state machine's history."""
        key = f"{repair_prefix(table, repair_id)}sample.json"
        self._put(key, json.dumps(sample, sort_keys=True).encode())
        return key

    def sample(self, table: str, repair_id: str) -> dict[str, Any]:
        found = self._json(f"{repair_prefix(table, repair_id)}sample.json")
        return found if isinstance(found, dict) else {}

    def save_report(self, table: str, repair_id: str, report: dict[str, Any]) -> str:
        key = f"{repair_prefix(table, repair_id)}report.json"
        self._put(key, json.dumps(report, indent=2, default=str).encode())
        return key

    # ------------------------------------------------------------ backup
    def save_record(self, header: PlanHeader, name: str, record: dict[str, Any]) -> None:
        self._put(f"{repair_prefix(header.table, header.repair_id)}{name}.json", json.dumps(record).encode())

    def record(self, header: PlanHeader, name: str) -> dict[str, Any] | None:
        found = self._json(f"{repair_prefix(header.table, header.repair_id)}{name}.json")
        return found if isinstance(found, dict) else None
