"""Validation before cutover: indexes ACTIVE, item counts and checksums against expectations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynamodb_dr.restore.checksum import combine
from dynamodb_dr.restore.models import Plan
from dynamodb_dr.restore.tables import RestoreTables


def segment_count(plan: Plan, logical: str) -> int:
    """The request's explicit `validation.segments`, else the plan's, sized from the table's size."""
    return plan.validation.segments or plan.validation_estimate.segments_of(logical) or 1


def segments(plan: Plan) -> list[dict[str, Any]]:
    """One Map item per (table, segment)."""
    return [
        {"logical": t.logical, "table": t.target, "segment": s, "total": total}
        for t in plan.tables
        for total in [segment_count(plan, t.logical)]
        for s in range(total)
    ]


@dataclass
class TableFigures:
    logical: str
    table: str
    item_count: int
    checksum: str
    segments: int
    pages: int
    indexes: dict[str, str]
    problems: list[str] = field(default_factory=list)
    expectation: str = "none"  # input | none
    archive: dict[str, Any] = field(default_factory=dict)


def evaluate(
    plan: Plan,
    results: list[dict[str, Any]],
    tables: RestoreTables,
    archive_check: Callable[[str, str], dict[str, Any]] | None = None,
) -> list[TableFigures]:
    """Aggregate the Map's per-segment results and compare them with the thresholds."""
    figures: list[TableFigures] = []
    for planned in plan.tables:
        mine = [r for r in results if r["segment"]["logical"] == planned.logical]
        count = sum(int(r["progress"]["count"]) for r in mine)
        checksum = combine(*(r["progress"]["checksum"] for r in mine)) if mine else "0" * 32
        status, indexes = tables.status(planned.target)
        table = TableFigures(
            planned.logical,
            planned.target,
            count,
            checksum,
            len(mine),
            sum(int(r["progress"]["pages"]) for r in mine),
            indexes,
        )
        thresholds = plan.validation
        planned_segments = segment_count(plan, planned.logical)
        if len(mine) != planned_segments or not all(r["progress"]["done"] for r in mine):
            table.problems.append(f"scanned {len(mine)} of {planned_segments} segments completely")
        if status != "ACTIVE":
            table.problems.append(f"table is {status}")
        table.problems.extend(f"index {n} is {s}" for n, s in indexes.items() if s != "ACTIVE")
        if count < thresholds.min_items:
            table.problems.append(f"{count} items, fewer than min_items {thresholds.min_items}")
        expected = thresholds.expected.get(planned.logical)
        if expected:
            table.expectation = "input"
            if expected.item_count is not None:
                allowed = expected.item_count * thresholds.max_count_deviation_pct / 100
                if abs(count - expected.item_count) > allowed:
                    table.problems.append(f"{count} items, expected {expected.item_count} (±{allowed:g})")
            if expected.checksum is not None and expected.checksum != checksum:
                table.problems.append("checksum differs from the expected checksum")
        if thresholds.compare_source_count:
            source_count = int(tables.describe(planned.source).get("ItemCount", 0))
            allowed = source_count * thresholds.max_source_deviation_pct / 100
            if abs(count - source_count) > allowed:
                table.problems.append(f"{count} items, source reports {source_count} (±{allowed:g})")
        if archive_check and thresholds.archive_sample:
            table.archive = archive_check(planned.logical, planned.target)
            if table.archive.get("mismatches"):
                table.problems.append(
                    f"{table.archive['mismatches']} of {table.archive['checked']} archived keys differ"
                )
        figures.append(table)
    return figures
