"""What a repair will cost before it runs: the apply time, and the data-loss window it accepts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dynamodb_dr.repair.models import PlanHeader, RepairSettings
from dynamodb_dr.repair.select import KeyChanges

# One conditional write's round trip on AWS is ~5-10 ms; a worker keeps ~50 writes a second going.
WRITES_PER_WORKER_SECOND = 50


def estimate(header: PlanHeader, settings: RepairSettings) -> dict[str, Any]:
    """How long the apply takes: the write units at the allowed share of the table's capacity,
    or what the lanes' workers can send, whichever is slower; plus the backup's settle time."""
    per_second = max(header.units_per_second, 0.001)
    at_capacity = header.write_units / per_second
    senders = max(1, len(header.lanes)) * settings.repair_workers * WRITES_PER_WORKER_SECOND
    by_workers = header.entries / senders
    apply_seconds = max(at_capacity, by_workers)
    settle = settings.backup_settle_seconds if header.entries else 0
    return {
        "writes": header.entries,
        "write_units": header.write_units,
        "table_write_capacity": header.summary.get("capacity"),
        "capacity_source": header.summary.get("capacity_source"),
        "share": header.summary.get("share"),
        "units_per_second": header.units_per_second,
        "apply_seconds": round(apply_seconds, 1),
        "limited_by": "write capacity share" if at_capacity >= by_workers else "writers",
        "backup_settle_seconds": settle,
        "total_seconds": round(apply_seconds + settle, 1),
    }


def data_loss(undone: Sequence[KeyChanges]) -> dict[str, Any]:
    """What a repaired key gives up: the changes made to it from its first undone change to the
    window's end (the bad ones, and any good ones in between); other items lose nothing."""
    if not undone:
        return {"repaired_keys": 0, "undone_changes": 0, "from": None, "to": None, "other_items_seconds": 0}
    first = min(k.first_undone for k in undone if k.first_undone)
    last = max(k.last_undone for k in undone if k.last_undone)
    return {
        "repaired_keys": len(undone),
        "undone_changes": sum(k.undone for k in undone),
        "from": _iso(first),
        "to": _iso(last),
        "seconds": (last - first).total_seconds() + 1,
        "other_items_seconds": 0,
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None
