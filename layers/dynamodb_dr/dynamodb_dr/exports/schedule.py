"""Scheduled S3 exports: a FULL export per table on one schedule, a gap-free INCREMENTAL chain on another.

Every tick (either schedule) first follows the table's in-flight exports to COMPLETED/FAILED
(`describe_export`), then plans at most one new export:

- no chain yet, or the chain's next start is older than the earliest restorable time (the PITR
  window slid or PITR was off): record a gap and start a *base* FULL export; incrementals wait
  for it and then continue from its export time;
- export-full: a FULL export as of the tick (skipped while the previous FULL is still running);
- export-incremental: the window [next_from, tick] clamped to 24 h; windows under 15 min wait
  for a later tick; skipped while the previous incremental is still running. The chain only
  advances when an incremental COMPLETES, so a failed window is simply exported again.
"""

from __future__ import annotations

import logging

from dynamodb_dr.core.errors import DynamoDbDrError, TableNotProtected
from dynamodb_dr.exports.chain import ChainConflict
from dynamodb_dr.exports.models import (
    ExportDependencies,
    ExportRunReport,
    ExportSettings,
    ExportTick,
    TableExportResult,
)
from dynamodb_dr.exports.planning import plan
from dynamodb_dr.exports.tracking import track

__all__ = ["ExportDependencies", "ExportRunReport", "ExportSettings", "ExportTick", "run_exports"]

logger = logging.getLogger(__name__)


def run_exports(tick: ExportTick, settings: ExportSettings, deps: ExportDependencies) -> ExportRunReport:
    """Track and start exports for every table (or the tick's subset); one failure never stops the others."""
    names = tick.tables or settings.protected_tables
    unknown = [name for name in names if name not in settings.protected_tables]
    if unknown:
        raise TableNotProtected(f"tables not protected by this stack: {unknown}")
    results = [_process(name, tick, settings, deps) for name in names]
    return ExportRunReport(task=tick.task, tick=tick.tick_id, tables=results)


def _process(
    logical: str, tick: ExportTick, config: ExportSettings, deps: ExportDependencies
) -> TableExportResult:
    result = TableExportResult(logical)
    try:
        result.live_table = deps.registry.resolve(logical).live_table
        for _ in range(3):
            try:
                track(result, deps)
                plan(result, tick, config, deps)
                break
            except ChainConflict as exc:  # a concurrent run moved the head: plan again
                logger.warning(
                    "export chain conflict, re-planning", extra={"table": logical, "err": str(exc)}
                )
        else:
            result.errors.append(f"ExportChainError: chain of {logical} kept changing concurrently")
    except DynamoDbDrError as exc:
        result.errors.append(f"{exc.code}: {exc}")
    _ages(result, tick, deps)
    return result


def _ages(result: TableExportResult, tick: ExportTick, deps: ExportDependencies) -> None:
    try:
        head = deps.store.head(result.logical_name)
    except DynamoDbDrError:
        return
    for kind, last in (("FULL", head.last_full_to), ("INCREMENTAL", head.last_incr_to)):
        if last:
            result.age_minutes[kind] = round((tick.scheduled_time - last).total_seconds() / 60, 1)
