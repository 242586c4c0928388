"""Validation against the CDC archive: sampled keys must match their last archived image at or
before the restore point. Keys changed within `guard` of the restore point are left out (stream
times are approximate), so a mismatch means the restore really differs."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dynamodb_dr.cdc.archive import STREAM_TIME_RESOLUTION, ArchiveStore, read_changes
from dynamodb_dr.cdc.model import binary_to_bytes, dedupe
from dynamodb_dr.core.aws import aws_errors

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

LOOKBACK = timedelta(hours=1)
GUARD = timedelta(seconds=1)


def archive_sample(
    store: ArchiveStore,
    dynamodb: DynamoDBClient,
    *,
    logical: str,
    target: str,
    restore_time: datetime,
    sample_size: int,
    seed: str,
) -> dict[str, Any]:
    """{"status": checked | no-archive-coverage, "checked": n, "mismatches": m}."""
    # A change stamped s (whole seconds on AWS) happened within [s, s + 1 s).
    end = restore_time + GUARD + STREAM_TIME_RESOLUTION
    changes = dedupe(read_changes(store, logical, restore_time - LOOKBACK, end))
    by_key: dict[str, list[Any]] = defaultdict(list)
    for change in changes:
        by_key[change.key_id].append(change)
    near = {
        c.key_id for c in changes if c.approximate_creation + STREAM_TIME_RESOLUTION > restore_time - GUARD
    }
    candidates = sorted(k for k in by_key if k not in near)
    if not candidates:
        return {"status": "no-archive-coverage", "checked": 0, "mismatches": 0}
    sample = random.Random(seed).sample(candidates, min(sample_size, len(candidates)))
    mismatches = 0
    for key_id in sample:
        last = by_key[key_id][-1]  # per-key order; all at or before restore_time - GUARD
        expected = None if last.event_name == "REMOVE" else binary_to_bytes(last.new_image)
        with aws_errors(table=target):
            actual = dynamodb.get_item(
                TableName=target, Key=binary_to_bytes(last.keys), ConsistentRead=True
            ).get("Item")
        if actual != expected:
            mismatches += 1
    return {"status": "checked", "checked": len(sample), "mismatches": mismatches}
