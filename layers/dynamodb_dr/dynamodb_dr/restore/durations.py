"""How long a restore and its validation are expected to take, stated in the plan before anything
starts, and whether that fits the RTO.

The validation part is estimate.py's (segments sized from the table, scanned at the restored
table's read floor). The restore part is the table's latest successful rehearsal when there is one
(a whole rehearsed run: restore, settings and validation of a copy of that table); without one, a
size-based assumption: about 20 minutes for any point-in-time restore plus a minute per GB (AWS
publishes no figure; rehearse to replace it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dynamodb_dr.restore.estimate import ValidationEstimate
from dynamodb_dr.restore.models import Estimate, TableEstimate

RESTORE_FLOOR_SECONDS = 20 * 60
RESTORE_SECONDS_PER_GB = 60
# Re-applying settings, comparing and switching pointers (the approval wait is not counted).
FINISHING_SECONDS = 300
GB = 1024**3


@dataclass(frozen=True)
class Rehearsed:
    seconds: float
    tick: str


def estimate_durations(
    tables: list[tuple[str, int | None]],
    *,
    validation: ValidationEstimate,
    rto_minutes: int,
    rehearsed: Callable[[str], Rehearsed | None],
) -> Estimate:
    """`tables` holds (logical name, source size in bytes or None when unknown)."""
    per_table = {t.logical: t.seconds for t in validation.tables}
    rows = []
    for logical, size in tables:
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
                validation_seconds=per_table.get(logical, 0),
                basis=basis,
            )
        )
    restore_s = max((r.restore_seconds for r in rows), default=0)
    validation_s = validation.seconds
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
