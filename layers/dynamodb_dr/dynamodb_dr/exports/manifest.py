"""An export's manifest, and checking data against it before a rebuild trusts it.

DynamoDB writes `manifest-summary.json` (itemCount, manifestFilesS3Key) and `manifest-files.json`
(one line per data file: dataFileS3Key, itemCount, md5Checksum). A rebuild reads only what the
manifest lists, checks each file's MD5 and item count, and the totals; anything missing, extra
or different is `ExportManifestMismatch` and no table claims success.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from dynamodb_dr.core.errors import ExportChainError, ExportManifestMismatch
from dynamodb_dr.exports.chain import ExportRecord


@dataclass(frozen=True)
class DataFile:
    key: str
    item_count: int | None
    md5: str | None  # as the manifest gives it (hex or base64)

    def check_body(self, body: bytes, export: str, table: str) -> None:
        if self.md5 is None:
            return
        digest = hashlib.md5(body).digest()  # noqa: S324 - the manifest's own checksum
        if self.md5 not in (digest.hex(), base64.b64encode(digest).decode()):
            raise ExportManifestMismatch(
                f"export {export}: data file {self.key} does not match its manifest MD5 checksum",
                table=table,
            )

    def check_count(self, counted: int, export: str, table: str) -> None:
        if self.item_count is not None and counted != self.item_count:
            raise ExportManifestMismatch(
                f"export {export}: data file {self.key} holds {counted} items, its manifest says "
                f"{self.item_count}",
                table=table,
            )


@dataclass(frozen=True)
class Manifest:
    export: str  # the export's chain key (EXP#...)
    table: str  # logical table
    item_count: int | None
    files: tuple[DataFile, ...]

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.files]

    def check_total(self, counted: int, what: str) -> None:
        if self.item_count is not None and counted != self.item_count:
            raise ExportManifestMismatch(
                f"export {self.export}: {what} {counted} items, its manifest says {self.item_count}",
                table=self.table,
            )

    def check_folder(self, listed: list[str]) -> None:
        """The data folder an import reads must hold exactly the manifest's files."""
        missing = sorted(set(self.keys) - set(listed))
        extra = sorted(set(listed) - set(self.keys))
        if missing or extra:
            raise ExportManifestMismatch(
                f"export {self.export}: data folder differs from the manifest: "
                f"{len(missing)} listed file(s) missing {missing[:3]}, {len(extra)} unlisted {extra[:3]}",
                table=self.table,
            )


def parse_manifest(record: ExportRecord, summary: bytes, files: bytes | None) -> Manifest:
    table = record.logical_name
    try:
        parsed = json.loads(summary)
        lines = [json.loads(line) for line in (files or b"").decode().splitlines() if line.strip()]
        data = tuple(
            DataFile(
                key=str(line["dataFileS3Key"]),
                item_count=int(line["itemCount"]) if "itemCount" in line else None,
                md5=str(line["md5Checksum"]) if line.get("md5Checksum") else None,
            )
            for line in lines
        )
        total = int(parsed["itemCount"]) if parsed.get("itemCount") is not None else None
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise ExportChainError(f"malformed manifest of export {record.sk}: {exc}", table=table) from exc
    manifest = Manifest(record.sk, table, total, data)
    counts = [f.item_count for f in data]
    if total is not None and None not in counts:
        manifest.check_total(sum(c for c in counts if c is not None), "its files list")
    return manifest
