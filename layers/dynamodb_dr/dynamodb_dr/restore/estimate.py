"""Validation planning: segments sized from each table's size, and the time validation will take.

Computed when the request is validated, before anything is restored, from the source tables'
DescribeTable figures (TableSizeBytes and ItemCount, which DynamoDB refreshes about every six
hours). A restored table is a new table: on demand it reads at most 12,000 read request units per
second at first (AWS's documented throughput of a new on-demand table; one unit covers 8 KB of an
eventually consistent Scan, so ~98 MB/s), a provisioned one at the source's read capacity. That
rate is the floor no validation can beat; enough parallel segments get close to it.

When full validation cannot fit its share of the RTO, the plan says so up front (`fits: false`
and a warning). It still validates every item: nothing is sampled unless the request asks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from dynamodb_dr.core.model import DomainModel

# What one segment's Lambda sustains: Scan pages of 1 MB (about 200 ms each on AWS) parsed by
# botocore and checksummed on the restore function's CPU share (bench/validation.py measures it).
SEGMENT_BYTES_PER_SECOND = 2_500_000
# Give a table one segment per this many bytes (about a minute of scanning each) ...
SEGMENT_TARGET_SECONDS = 60
SEGMENT_TARGET_BYTES = SEGMENT_BYTES_PER_SECOND * SEGMENT_TARGET_SECONDS
# ... up to the Map's MaxConcurrency (statemachines/restore.asl.json ScanSegments): more segments
# would only queue. 40 x 2.5 MB/s is about the read floor of a new on-demand table.
MAP_CONCURRENCY = 40
# A new on-demand table's initial read throughput, and the bytes one read unit covers on an
# eventually consistent Scan (2 x 4 KB).
NEW_ON_DEMAND_READ_UNITS = 12_000
SCAN_BYTES_PER_READ_UNIT = 8 * 1024
# State transitions, Lambda invocations and the compare step, per validation.
FIXED_OVERHEAD_SECONDS = 15
# Share of the RTO left to validation (the restore itself may take half: plan.RESTORE_SHARE_OF_RTO).
VALIDATION_SHARE_OF_RTO = 0.4


class TableEstimate(DomainModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    logical: str
    size_bytes: int
    item_count: int
    segments: int
    read_bytes_per_second: int  # the restored table's read floor
    seconds: int


class ValidationEstimate(DomainModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    tables: tuple[TableEstimate, ...] = ()
    seconds: int = 0
    budget_seconds: int = 0
    fits: bool = True
    warning: str | None = None

    def segments_of(self, logical: str) -> int | None:
        return next((t.segments for t in self.tables if t.logical == logical), None)


def read_floor(description: Mapping[str, Any]) -> int:
    """Bytes/s a Scan of a table restored from this source can read at first."""
    billing = (description.get("BillingModeSummary") or {}).get("BillingMode", "PAY_PER_REQUEST")
    units = NEW_ON_DEMAND_READ_UNITS
    if billing == "PROVISIONED":
        units = int((description.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits") or 1)
    return units * SCAN_BYTES_PER_READ_UNIT


def segments_for(size_bytes: int) -> int:
    return max(1, min(MAP_CONCURRENCY, math.ceil(size_bytes / SEGMENT_TARGET_BYTES)))


def table_seconds(size_bytes: int, segments: int, floor_bytes_per_second: int) -> float:
    """Scan time of one table: its segments in parallel, never faster than its read floor."""
    return size_bytes / min(segments * SEGMENT_BYTES_PER_SECOND, floor_bytes_per_second)


def estimate(
    sources: Mapping[str, Mapping[str, Any]],
    *,
    requested_segments: int | None,
    max_segments: int,
    rto_minutes: int,
) -> ValidationEstimate:
    """sources: logical name -> the source table's DescribeTable `Table`."""
    wanted = {
        logical: requested_segments or segments_for(int(d.get("TableSizeBytes") or 0))
        for logical, d in sources.items()
    }
    total = sum(wanted.values())
    if total > max_segments:  # the execution state holds one result per segment
        wanted = {k: max(1, v * max_segments // total) for k, v in wanted.items()}
    tables = []
    for logical, description in sources.items():
        size = int(description.get("TableSizeBytes") or 0)
        floor = read_floor(description)
        tables.append(
            TableEstimate(
                logical=logical,
                size_bytes=size,
                item_count=int(description.get("ItemCount") or 0),
                segments=wanted[logical],
                read_bytes_per_second=floor,
                seconds=math.ceil(table_seconds(size, wanted[logical], floor)),
            )
        )
    # One Map runs every table's segments, at most MAP_CONCURRENCY at a time.
    all_bytes = sum(t.size_bytes for t in tables)
    shared = all_bytes / (min(MAP_CONCURRENCY, sum(t.segments for t in tables)) * SEGMENT_BYTES_PER_SECOND)
    seconds = math.ceil(max([shared, *(t.seconds for t in tables)]) + FIXED_OVERHEAD_SECONDS)
    budget = int(rto_minutes * 60 * VALIDATION_SHARE_OF_RTO)
    warning = None
    if seconds > budget:
        warning = (
            f"full validation of {sum(t.item_count for t in tables):,} items ({all_bytes / 1e9:.1f} GB) "
            f"needs ~{math.ceil(seconds / 60)} min, more than its {budget // 60} min share of the "
            f"{rto_minutes} min RTO; it will validate every item anyway"
            + ("" if requested_segments is None else "; fewer explicit validation.segments than needed?")
        )
    return ValidationEstimate(
        tables=tuple(tables), seconds=seconds, budget_seconds=budget, fits=warning is None, warning=warning
    )
