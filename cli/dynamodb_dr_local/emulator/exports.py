"""AWS-shaped S3 exports for the emulator (moto 5.2.5 writes one full dump, whatever was asked).

`ExportEmulation` replaces moto's ExportTableToPointInTime handler:
- output as on AWS: `<prefix>/AWSDynamoDB/<id>/manifest-summary.json`, `manifest-files.json` and
  `data/<id>.json.gz`; describe_export returns ExportManifest, ExportTime, the incremental window;
- FULL exports snapshot the table; INCREMENTAL exports write the changes between the snapshot
  taken at ExportFromTime and now, in AWS's incremental format (Keys / NewImage / OldImage);
  an incremental export whose ExportFromTime matches no earlier export fails like a PITR gap.
  Tests drive writes *between* simulated ticks, so "now" is the state at ExportToTime;
- ClientToken is honoured (same token -> the same export);
- `hold = True` keeps new exports IN_PROGRESS until `finish_held()`, `fail_next` fails the next.

`set_earliest_restorable()` moves a table's PITR window (moto freezes it at enable time).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr_local.emulator.pitr import ENABLED_ATTR as PITR_ENABLED_ATTR

# key -> moto Item. Stored item objects are never changed in place (pitr.copy_on_write), so a
# snapshot can hold them as they are: an item is unchanged between two snapshots iff it is the
# same object, and only changed items are converted to DynamoDB JSON.
Snapshot = dict[tuple[Any, ...], Any]


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class EmulatedExport:
    table: Any
    arn: str
    export_type: str
    export_format: str
    s3_bucket: str
    s3_prefix: str
    export_time: datetime
    export_from: datetime | None
    lines: list[dict[str, Any]]
    account_id: str
    region: str
    status: str = "IN_PROGRESS"
    failure_code: str | None = None
    failure_message: str | None = None
    manifest_key: str | None = None
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    end_time: datetime | None = None

    @property
    def export_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]

    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "TableArn": self.table.table_arn,
            "S3Bucket": self.s3_bucket,
            "S3Prefix": self.s3_prefix,
            "ExportFormat": self.export_format,
            "ExportType": self.export_type,
            "ExportTime": self.export_time.timestamp(),
            "StartTime": self.start_time.timestamp(),
            "ItemCount": len(self.lines) if self.status == "COMPLETED" else 0,
        }
        if self.export_from:
            out["IncrementalExportSpecification"] = {
                "ExportFromTime": self.export_from.timestamp(),
                "ExportToTime": self.export_time.timestamp(),
                "ExportViewType": "NEW_AND_OLD_IMAGES",
            }
        if self.end_time:
            out["EndTime"] = self.end_time.timestamp()
        if self.manifest_key:
            out["ExportManifest"] = self.manifest_key
        if self.failure_code:
            out.update(FailureCode=self.failure_code, FailureMessage=self.failure_message)
        return out


class ExportEmulation:
    def __init__(self) -> None:
        self.hold = False
        self.fail_next: str | None = None
        self.started: list[EmulatedExport] = []
        self._held: list[EmulatedExport] = []
        self._tokens: dict[str, EmulatedExport] = {}
        self._snapshots: dict[str, dict[datetime, Snapshot]] = {}
        self._saved: Any = None

    def __enter__(self) -> ExportEmulation:
        from moto.dynamodb.responses import DynamoHandler

        emulation = self

        def export_table_to_point_in_time(handler: Any) -> Any:
            from moto.core.responses import ActionResult

            export = emulation._start(handler.dynamodb_backend, handler.body)
            return ActionResult({"ExportDescription": export.response()})

        self._saved = DynamoHandler.export_table_to_point_in_time
        setattr(DynamoHandler, "export_table_to_point_in_time", export_table_to_point_in_time)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.dynamodb.responses import DynamoHandler

        setattr(DynamoHandler, "export_table_to_point_in_time", self._saved)  # noqa: B010

    # ------------------------------------------------------------ test controls
    def finish_held(self, *, fail: bool = False) -> int:
        held, self._held = self._held, []
        for export in held:
            self._finish(export, failure="UNKNOWN" if fail else None)
        return len(held)

    @staticmethod
    def set_earliest_restorable(
        table_name: str, when: datetime, *, region: str = "us-east-1", account: str = "123456789012"
    ) -> None:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[account][region].get_table(table_name)
        description = table.continuous_backups["PointInTimeRecoveryDescription"]
        description["EarliestRestorableDateTime"] = when.timestamp()
        # emulator/pitr.py derives the window from the time PITR was enabled: move that too.
        table.__dict__[PITR_ENABLED_ATTR] = when.timestamp()

    # ------------------------------------------------------------ moto side
    def _start(self, backend: Any, body: dict[str, Any]) -> EmulatedExport:
        from moto.dynamodb.exceptions import PointInTimeRecoveryUnavailable, TableNotFoundException

        token = body.get("ClientToken")
        if token and token in self._tokens:
            return self._tokens[token]
        table = next((t for t in backend.tables.values() if t.table_arn == body["TableArn"]), None)
        if table is None:
            raise TableNotFoundException(name=body["TableArn"])
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]
        if pitr["PointInTimeRecoveryStatus"] != "ENABLED":
            raise PointInTimeRecoveryUnavailable(name=table.name)
        incremental = body.get("ExportType") == "INCREMENTAL_EXPORT"
        spec = body.get("IncrementalExportSpecification") or {}
        export_time = _as_datetime(spec["ExportToTime"] if incremental else body.get("ExportTime") or 0)
        export_from = _as_datetime(spec["ExportFromTime"]) if incremental else None
        if not incremental and not body.get("ExportTime"):
            export_time = datetime.now(UTC).replace(microsecond=0)
        current = self._snapshot(table)
        history = self._snapshots.setdefault(table.table_arn, {})
        export_id = f"{int(export_time.timestamp() * 1000):014d}-{uuid.uuid4().hex[:8]}"
        export = EmulatedExport(
            table=table,
            arn=f"{table.table_arn}/export/{export_id}",
            export_type=body.get("ExportType", "FULL_EXPORT"),
            export_format=body.get("ExportFormat", "DYNAMODB_JSON"),
            s3_bucket=body["S3Bucket"],
            s3_prefix=body.get("S3Prefix", ""),
            export_time=export_time,
            export_from=export_from,
            lines=[],
            account_id=backend.account_id,
            region=backend.region_name,
        )
        failure = self.fail_next
        self.fail_next = None
        if export_from is None:
            export.lines = [{"Item": _image(item)} for item in current.values()]
        elif export_from in history:
            key_attrs = [k for k in (table.hash_key_attr, table.range_key_attr) if k]
            export.lines = _changes(history[export_from], current, export_time, key_attrs)
        else:
            failure = failure or "IncrementalExportHistoryMissing"
        history[export_time] = current
        backend.table_exports[export.arn] = export
        self.started.append(export)
        if token:
            self._tokens[token] = export
        if self.hold:
            self._held.append(export)
        else:
            self._finish(export, failure=failure)
        return export

    def _snapshot(self, table: Any) -> Snapshot:
        snapshot: Snapshot = {}
        for value in table.items.values():
            for item in value.values() if table.range_key_attr else (value,):
                range_key = () if item.range_key is None else (item.range_key.type, str(item.range_key.value))
                snapshot[(item.hash_key.type, str(item.hash_key.value), *range_key)] = item
        return snapshot

    def _finish(self, export: EmulatedExport, *, failure: str | None) -> None:
        from moto.s3.models import s3_backends

        export.end_time = datetime.now(UTC)
        s3 = s3_backends[export.account_id]["aws"]
        if failure or export.s3_bucket not in s3.buckets:
            export.status = "FAILED"
            export.failure_code = failure or "S3NoSuchBucket"
            export.failure_message = (
                "emulated export failure" if failure else "The specified bucket does not exist"
            )
            return
        base = f"{export.s3_prefix.strip('/')}/AWSDynamoDB/{export.export_id}".lstrip("/")
        data_key = f"{base}/data/{uuid.uuid4().hex}.json.gz"
        body = gzip.compress("".join(json.dumps(line) + "\n" for line in export.lines).encode())
        s3.put_object(bucket_name=export.s3_bucket, key_name=data_key, value=body)
        files = {
            "itemCount": len(export.lines),
            "md5Checksum": hashlib.md5(body).hexdigest(),  # noqa: S324 - what AWS writes
            "dataFileS3Key": data_key,
        }
        s3.put_object(
            bucket_name=export.s3_bucket,
            key_name=f"{base}/manifest-files.json",
            value=(json.dumps(files) + "\n").encode(),
        )
        summary = {
            "version": "2023-08-01" if export.export_from else "2020-06-30",
            "exportArn": export.arn,
            "startTime": export.start_time.isoformat(),
            "endTime": export.end_time.isoformat(),
            "tableArn": export.table.table_arn,
            "exportTime": export.export_time.isoformat(),
            "exportFromTime": export.export_from.isoformat() if export.export_from else None,
            "s3Bucket": export.s3_bucket,
            "s3Prefix": export.s3_prefix,
            "manifestFilesS3Key": f"{base}/manifest-files.json",
            "itemCount": len(export.lines),
            "outputFormat": "DYNAMODB_JSON",
            "exportType": export.export_type,
        }
        export.manifest_key = f"{base}/manifest-summary.json"
        s3.put_object(
            bucket_name=export.s3_bucket, key_name=export.manifest_key, value=json.dumps(summary).encode()
        )
        export.status = "COMPLETED"


def _image(item: Any) -> dict[str, Any]:
    return dict(item.to_json(root_attr_name="Item")["Item"])


def _changes(before: Snapshot, after: Snapshot, at: datetime, key_attrs: list[str]) -> list[dict[str, Any]]:
    """AWS incremental export lines (NEW_AND_OLD_IMAGES) for every item that differs."""
    micros = {"N": str(int(at.timestamp() * 1_000_000))}
    lines: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is new:
            continue
        old_image = _image(old) if old is not None else None
        new_image = _image(new) if new is not None else None
        if old_image == new_image:
            continue
        image = new_image if new_image is not None else old_image
        assert image is not None
        keys = {name: image[name] for name in key_attrs}
        line: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": micros}, "Keys": keys}
        if old_image is not None:
            line["OldImage"] = old_image
        if new_image is not None:
            line["NewImage"] = new_image
        lines.append(line)
    return lines
