"""`dynamodb-dr status`: the DR posture of each protected table (same code as the posture function)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr.posture.assess import PostureReport, TablePosture
from dynamodb_dr.posture.models import CdcPosture
from dynamodb_dr.posture.run import PostureConfig, build_sources, run_posture
from dynamodb_dr_local.stack_lookup import add_stack_arguments, lookup


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="DR posture of each protected table: can it meet its RPO and RTO now?",
        description=(
            "For each table the stack protects: PITR and its restorable window, last backup, S3 export "
            "chain, how far the CDC archive provably reaches and whether it keeps up, live physical "
            "table, global-table replicas, "
            "measured restore times (rehearsals), and whether the RPO and RTO objectives are met. "
            "Exit status 0 when every table is ok, 1 when any is at risk, unknown or failed."
        ),
    )
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    stack = lookup(args)
    settings = stack.settings()
    window = stack.parameters.get("CdcBatchingWindowSeconds", "")
    config = PostureConfig(
        archive_bucket=stack.outputs.get("ArchiveBucketName") or None,
        failure_queue_url=stack.outputs.get("CdcFailureQueueUrl") or None,
        archiver_function=stack.outputs.get("CdcArchiverFunctionName") or None,
        cdc_batching_window_seconds=int(window) if window.isdigit() else 5,
    )
    report = run_posture(settings, build_sources(settings, stack.clients, config), datetime.now(UTC))
    print(report.model_dump_json(indent=2) if args.json else render(report))
    return 0 if all(t.status == "ok" for t in report.tables) else 1


def render(report: PostureReport) -> str:
    header = ("TABLE", "LIVE", "STATUS", "PITR", "BACKUP", "EXPORT", "CDC", "REPLICAS", "RPO", "RTO")
    rows = [header, *(_row(t) for t in report.tables)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    notes = [note for t in report.tables for note in _notes(t)]
    if report.cdc_dead_letters:
        notes.append(
            f"CDC failure queue holds {report.cdc_dead_letters} message(s): stream records not archived"
        )
    stamp = f"posture at {report.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    history = [line for t in report.tables for line in _rto_history(t)]
    return "\n".join([stamp, *lines, *(f"  ! {n}" for n in notes), *history])


def _rto_history(t: TablePosture, shown: int = 3) -> list[str]:
    """The newest measured restore times (rehearsals) of a table."""
    if not t.rto or not t.rto.history:
        return []
    samples = [
        f"{r.tick[:8]} {r.status.lower()}" + (f" {_age(r.measured_seconds)}" if r.measured_seconds else "")
        for r in t.rto.history[:shown]
    ]
    return [f"  rehearsals of {t.logical_name}: " + "; ".join(samples)]


def _row(t: TablePosture) -> tuple[str, ...]:
    if t.status == "failed":
        return (t.logical_name, t.live_table or "?", "FAILED", *("-" * 7))
    pitr = "?" if t.pitr is None else (f"on, lag {_age(t.pitr.lag_seconds)}" if t.pitr.enabled else "OFF")
    if t.pitr and t.pitr.enabled and t.pitr.window_days is not None:
        pitr += f", {_age(t.pitr.window_days * 86400)} window"
    backup = "?" if t.backups is None else (_age(t.backups.age_seconds) if t.backups.newest else "none")
    if t.backups and t.backups.last_run_failed:
        backup += " (last run FAILED)"
    export = "?" if t.exports is None else _exports(t)
    cdc = "?" if t.cdc is None else _cdc(t.cdc)
    replicas = "?" if t.replicas is None else (", ".join(_replica(r) for r in t.replicas) or "-")
    rpo = f"{_age(t.worst_case_rpo_seconds)} / {_age(t.rpo_objective_seconds)} {_met(t.rpo_met)}"
    measured = t.rto.latest_seconds if t.rto else None
    rto = f"{_age(measured)} / {_age(t.rto_objective_seconds)} {_met(t.rto_met)}"
    return (
        t.logical_name,
        t.live_table or "?",
        t.status.upper(),
        pitr,
        backup,
        export,
        cdc,
        replicas,
        rpo,
        rto,
    )


def _exports(t: TablePosture) -> str:
    assert t.exports is not None
    ages = ", ".join(f"{kind.lower()} {_age(age)}" for kind, age in sorted(t.exports.age_seconds.items()))
    text = ages or "none"
    if t.exports.gaps:
        text += f", {t.exports.gaps} gap(s)"
    if t.exports.failures_since_success:
        text += f", {t.exports.failures_since_success} failed"
    return text


def _cdc(cdc: CdcPosture) -> str:
    """How far the archive provably reaches (age), then AT RISK with the reasons' codes."""
    text = f"reach {_age(cdc.reach_age_seconds)}" if cdc.reach is not None else "reach -"
    if cdc.replayable_from:
        text += f" (on {cdc.replayable_from})"
    if cdc.at_risk:
        text += ", AT RISK: " + ", ".join(risk.split(":", 1)[0] for risk in cdc.risks)
    return text


def _replica(r: Any) -> str:
    latency = f" {r.latency_ms:.0f}ms" if r.latency_ms is not None else ""
    return f"{r.region} {r.status}{latency}"


def _notes(t: TablePosture) -> list[str]:
    if t.error:
        return [f"{t.logical_name}: {t.error}"]
    risks = [f"{t.logical_name}: CDC archive {risk}" for risk in (t.cdc.risks if t.cdc else [])]
    return risks + [f"{t.logical_name}: {check} unknown ({why})" for check, why in sorted(t.unknown.items())]


def _met(value: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "unknown"}[value]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
