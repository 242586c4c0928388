"""Issue 14 item 1: every export is checked against its manifest (files, MD5, item counts)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from dynamodb_dr.core.errors import ExportChainError, ExportManifestMismatch
from dynamodb_dr.exports.chain import ExportRecord
from dynamodb_dr.exports.manifest import parse_manifest

T = datetime(2026, 11, 1, tzinfo=UTC)
RECORD = ExportRecord(
    logical_name="customers",
    export_type="FULL",
    tick="t",
    physical_table="customers",
    window_to=T,
    client_token="x",
    s3_bucket="b",
    s3_prefix="p",
    started_at=T,
)
BODY = b"some gzip bytes"


def files(*lines: dict[str, object]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.mark.parametrize(
    "md5", [hashlib.md5(BODY).hexdigest(), base64.b64encode(hashlib.md5(BODY).digest()).decode()]
)
def test_the_md5_checksum_matches_in_hex_or_base64(md5: str) -> None:
    manifest = parse_manifest(
        RECORD,
        json.dumps({"itemCount": 3}).encode(),
        files({"dataFileS3Key": "p/data/a.json.gz", "itemCount": 3, "md5Checksum": md5}),
    )
    manifest.files[0].check_body(BODY, manifest.export, "customers")
    with pytest.raises(ExportManifestMismatch, match="MD5"):
        manifest.files[0].check_body(BODY + b"!", manifest.export, "customers")


def test_counts_must_add_up() -> None:
    with pytest.raises(ExportManifestMismatch, match="its manifest says 5"):
        parse_manifest(
            RECORD,
            json.dumps({"itemCount": 5}).encode(),
            files({"dataFileS3Key": "a", "itemCount": 3}, {"dataFileS3Key": "b", "itemCount": 1}),
        )
    manifest = parse_manifest(RECORD, json.dumps({"itemCount": 4}).encode(), files({"dataFileS3Key": "a"}))
    with pytest.raises(ExportManifestMismatch, match="import-from-S3 imported 3 items"):
        manifest.check_total(3, "import-from-S3 imported")
    with pytest.raises(ExportManifestMismatch, match="1 unlisted"):
        manifest.check_folder(["a", "stray"])
    with pytest.raises(ExportManifestMismatch, match="1 listed file"):
        manifest.check_folder([])


@pytest.mark.parametrize("summary", [b"not json", b"[]", json.dumps({"itemCount": "many"}).encode()])
def test_a_malformed_manifest_is_an_export_chain_error(summary: bytes) -> None:
    with pytest.raises(ExportChainError, match="malformed manifest"):
        parse_manifest(RECORD, summary, files({"dataFileS3Key": "a"}))
