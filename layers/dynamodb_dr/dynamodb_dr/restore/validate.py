"""Validation before cutover: indexes ACTIVE, item counts and checksums against expectations.

The segment results come from the scan Map. A missing, failed (null) or malformed result is a named
validation failure, never a crash: on AWS a failed child fails the Map, but some runtimes (the
emulator's Distributed Map) report success with a null result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from dynamodb_dr.core.errors import DynamoDbDrError
from dynamodb_dr.core.model import DomainModel
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


class _Segment(DomainModel):
    model_config = ConfigDict(extra="ignore")

    logical: str
    table: str
    segment: int = Field(ge=0)
    total: int = Field(ge=1)


class _Progress(DomainModel):
    model_config = ConfigDict(extra="ignore")

    count: int = Field(ge=0)
    checksum: str = Field(pattern=r"^[0-9a-f]{32}$")
    pages: int = Field(ge=0)
    done: bool


class SegmentResult(DomainModel):
    model_config = ConfigDict(extra="ignore")

    segment: _Segment
    progress: _Progress


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
    source_item_count: int | None = None  # DynamoDB's ItemCount of the source (approximate)
    warnings: list[str] = field(default_factory=list)


def parse_results(results: Any) -> tuple[list[SegmentResult], int]:
    """The well-formed segment results, and how many were missing or malformed."""
    if not isinstance(results, list):
        return [], 1
    parsed, bad = [], 0
    for raw in results:
        try:
            parsed.append(SegmentResult.model_validate(raw))
        except ValidationError:
            bad += 1
    return parsed, bad


def evaluate(
    plan: Plan,
    results: Any,
    tables: RestoreTables,
    archive_check: Callable[[str, str], dict[str, Any]] | None = None,
) -> list[TableFigures]:
    """Aggregate the Map's per-segment results and compare them with the thresholds."""
    parsed, malformed = parse_results(results)
    figures: list[TableFigures] = []
    thresholds = plan.validation
    for planned in plan.tables:
        mine = [
            r for r in parsed if r.segment.logical == planned.logical and r.segment.table == planned.target
        ]
        count = sum(r.progress.count for r in mine)
        checksum = combine(*(r.progress.checksum for r in mine)) if mine else "0" * 32
        status, indexes = tables.status(planned.target)
        table = TableFigures(
            planned.logical,
            planned.target,
            count,
            checksum,
            len(mine),
            sum(r.progress.pages for r in mine),
            indexes,
        )
        planned_segments = segment_count(plan, planned.logical)
        scanned = sorted(
            r.segment.segment for r in mine if r.progress.done and r.segment.total == planned_segments
        )
        if scanned != list(range(planned_segments)):
            table.problems.append(
                f"scanned {len(set(scanned))} of {planned_segments} segments completely"
                + (f" ({malformed} segment results missing or malformed)" if malformed else "")
            )
        if status != "ACTIVE":
            table.problems.append(f"table is {status}")
        table.problems.extend(f"index {n} is {s}" for n, s in indexes.items() if s != "ACTIVE")
        if count < thresholds.min_items:
            table.problems.append(f"{count} items, fewer than min_items {thresholds.min_items}")
        _against_expected(plan, table)
        _against_source(plan, planned.source, table, tables)
        if archive_check and thresholds.archive_sample:
            table.archive = archive_check(planned.logical, planned.target)
            if table.archive.get("mismatches"):
                table.problems.append(
                    f"{table.archive['mismatches']} of {table.archive['checked']} archived keys differ"
                )
        figures.append(table)
    return figures


def _against_expected(plan: Plan, table: TableFigures) -> None:
    thresholds = plan.validation
    expected = thresholds.expected.get(table.logical)
    if not expected:
        return
    table.expectation = "input"
    if expected.item_count is not None:
        allowed = expected.item_count * thresholds.max_count_deviation_pct / 100
        if abs(table.item_count - expected.item_count) > allowed:
            table.problems.append(f"{table.item_count} items, expected {expected.item_count} (±{allowed:g})")
    if expected.checksum is not None and expected.checksum != table.checksum:
        table.problems.append("checksum differs from the expected checksum")


def _against_source(plan: Plan, source: str, table: TableFigures, tables: RestoreTables) -> None:
    """Compare with the source's reported item count. Automatic cutover refuses an empty restored
    table and one far below the source (a restore point before the data, a wrong table); with
    approval these are warnings the approver sees."""
    thresholds = plan.validation
    try:
        table.source_item_count = int(tables.describe(source).get("ItemCount", 0))
    except DynamoDbDrError as exc:  # the source may be gone: that is why we restore
        table.warnings.append(f"source {source} not readable ({exc.code}): no count to compare with")
    count, source_count = table.item_count, table.source_item_count
    findings = []
    if count == 0 and not thresholds.allow_empty:
        findings.append("the restored table is empty (validation.allow_empty is false)")
    if source_count and count < source_count * thresholds.min_source_ratio:
        findings.append(
            f"{count} items, under {thresholds.min_source_ratio:g} x the source's reported {source_count}"
        )
    if plan.cutover == "automatic":
        table.problems.extend(f"{f}: no automatic cutover" for f in findings)
    else:
        table.warnings.extend(findings)
    if thresholds.compare_source_count and source_count is not None:
        allowed = source_count * thresholds.max_source_deviation_pct / 100
        if abs(count - source_count) > allowed:
            table.problems.append(f"{count} items, source reports {source_count} (±{allowed:g})")
