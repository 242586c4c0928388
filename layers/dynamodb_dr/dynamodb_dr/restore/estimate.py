"""How long a restore and its validation are expected to take, stated in the plan before anything
starts, and whether that fits the RTO.

A table's latest successful rehearsal is the best estimate of its restore (a whole rehearsed run:
restore, settings and validation of a copy of that table). Without one, a size-based assumption is
used: about 20 minutes for any point-in-time restore plus a minute per GB (AWS publishes no
figure; rehearse to replace it). Validation is a segmented scan at an assumed 4 MB/s per segment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dynamodb_dr.restore.models import Estimate, TableEstimate

RESTORE_FLOOR_SECONDS = 20 * 60
RESTORE_SECONDS_PER_GB = 60
SCAN_BYTES_PER_SECOND_PER_SEGMENT = 4 * 1024**2
SCAN_OVERHEAD_SECONDS = 60
# Re-applying settings, comparing and switching pointers (the approval wait is not counted).
FINISHING_SECONDS = 300
GB = 1024**3


@dataclass(frozen=True)
class Rehearsed:
    seconds: float
    tick: str


def estimate(
    tables: list[tuple[str, int | None]],
    *,
    segments: int,
    rto_minutes: int,
    rehearsed: Callable[[str], Rehearsed | None],
) -> Estimate:
    """`tables` holds (logical name, source size in bytes or None when unknown)."""
    rows = []
    for logical, size in tables:
        scan = SCAN_OVERHEAD_SECONDS + (size or 0) / (SCAN_BYTES_PER_SECOND_PER_SEGMENT * segments)
        known = rehearsed(logical)
        if known is not None:
            restore, basis = known.seconds, f"rehearsal {known.tick} (a whole rehearsed run)"
        else:
            restore = RESTORE_FLOOR_SECONDS + (size or 0) / GB * RESTORE_SECONDS_PER_GB
            basis = "size (no rehearsal yet): 20 min + 1 min per GB" + (
                "" if size is not None else ", size unknown"
            )
        rows.append(
            TableEstimate(
                logical=logical,
                size_bytes=size,
                restore_seconds=math.ceil(restore),
                validation_seconds=math.ceil(scan),
                basis=basis,
            )
        )
    restore_s = max((r.restore_seconds for r in rows), default=0)
    validation_s = max((r.validation_seconds for r in rows), default=0)
    total = restore_s + validation_s + FINISHING_SECONDS
    return Estimate(
        tables=tuple(rows),
        restore_seconds=restore_s,
        validation_seconds=validation_s,
        total_seconds=total,
        rto_seconds=rto_minutes * 60,
        fits_rto=total <= rto_minutes * 60,
    )


def rto_alert_seconds(plan_estimate: Estimate) -> int:
    """Restores still running this long after the start cannot meet the RTO any more (validation
    and finishing still follow): the moment to say so."""
    return max(0, plan_estimate.rto_seconds - plan_estimate.validation_seconds - FINISHING_SECONDS)
