"""`dynamodb-dr drill`: protect a table, lose it to a bad deploy, recover it, prove it. Offline."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dynamodb_dr_local.drill import backups, freshness, live, repair
from dynamodb_dr_local.drill.incident import Incident, IncidentResult, run_incident
from dynamodb_dr_local.drill.objectives import Objectives, RtoPart, render, rto_parts
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation
from dynamodb_dr_local.emulator.pitr import AWS_LATEST_LAG_SECONDS
from dynamodb_dr_local.output import Output

TABLE = "customers"


@dataclass
class DrillOptions:
    items: int = 10_000
    backup_days: int = 7
    min_backups_kept: int = 2
    corruption_share: float = 0.05
    rounds: int = 6
    writes_per_round: int = 100
    good_writes_after_incident: int = 25
    rpo_minutes: int = 15
    rto_minutes: int = 60
    # What the emulator cannot reproduce, assumed (and shown as such) in the RTO:
    detect_minutes: float = 10.0  # incident -> restore started (paging, diagnosis)
    aws_restore_minutes: float = 20.0  # DynamoDB's own restore; grows with table size
    real_items: int = 10_000_000  # the protected table's real size, for the validation estimate
    validation: dict[str, Any] = field(default_factory=lambda: {"segments": 4, "min_items": 1})
    report_file: Path | None = None
    json_output: bool = False

    @property
    def retention_days(self) -> int:
        """Half the simulated days, so the drill always shows pruning."""
        return max(1, self.backup_days // 2)


@dataclass
class DrillReport:
    items_loaded: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    objectives: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


def run_drill(options: DrillOptions, progress: Progress | None = None) -> DrillReport:
    progress = progress or Progress()
    out = Output(json_mode=options.json_output)
    report = DrillReport()
    objectives: list[Objectives] = []
    try:
        with Emulator(pitr_lag_seconds=AWS_LATEST_LAG_SECONDS) as emu, ExportEmulation() as exports:
            objectives += _run(emu, exports, options, progress, report, out)
    finally:
        report.seconds = progress.elapsed
        document = {**asdict(report), "passed": report.passed}
        out.result(document, lambda: _summary(report, objectives[0] if objectives else None))
        if options.report_file:
            options.report_file.write_text(json.dumps(document, indent=2, default=str))
    return report


def _run(  # noqa: PLR0917 - one drill's context, passed once
    emu: Emulator,
    exports: ExportEmulation,
    options: DrillOptions,
    progress: Progress,
    report: DrillReport,
    out: Output,
) -> list[Objectives]:
    progress.step("emulated AWS account up (moto, in process; no network, no AWS account)")
    create_customers_table(emu.clients.client("dynamodb"), TABLE)
    progress.step(f"loading {options.items:,} customers into table {TABLE!r} ...")
    loaded = load_customers(
        emu.clients.session_resource("dynamodb").Table(TABLE),
        options.items,
        progress=lambda done: progress.step(f"  {done:,}/{options.items:,} customers written"),
    )
    report.items_loaded = len(loaded)
    progress.step(f"table {TABLE!r}: {report.items_loaded:,} customers, streams on, PITR off (as found)")
    progress.step("deploying the stack from template.yaml and statemachines/ ...")
    stack = emu.deploy(
        parameters={
            "ProtectedTables": TABLE,
            "BackupRetentionDays": str(options.retention_days),
            "MinBackupsKept": str(options.min_backups_kept),
            "MonthlyBackupRetentionDays": "0",  # the drill shows the daily retention window
            "RpoMinutes": str(options.rpo_minutes),
            "RtoMinutes": str(options.rto_minutes),
        }
    )
    progress.step(f"stack {stack.name!r} deployed ({len(stack.resources)} resources)")

    # 1. Scheduled backups over simulated days: PITR repaired, retention, idempotency.
    today = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    stage = backups.run_backup_days(
        emu,
        stack,
        logical_table=TABLE,
        first_tick=today - timedelta(days=options.backup_days),
        days=options.backup_days,
        progress=progress,
    )
    out.line(backups.render(stage))
    report.stages["backups"] = asdict(stage)
    report.checks["PITR repaired by the first backup run"] = stage.days[0].pitr == "repaired"
    report.checks["one backup per tick, retried tick idempotent"] = stage.ok
    report.checks["retention pruned the tool's old backups"] = sum(len(d.deleted) for d in stage.days) > 0
    report.checks["someone else's backup untouched"] = stage.manual_backup_kept

    # 2. The application writes while the export chain and the CDC archiver run.
    first_export = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
        minutes=15 * (options.rounds + 1)
    )
    exports.set_earliest_restorable(TABLE, first_export - timedelta(hours=1))
    app = live.Application(emu, TABLE)
    app.load_keys([item["customer_id"] for item in loaded])
    archiver = live.Archiver(emu, stack, TABLE)
    archiver.skip_backlog()  # the initial load predates the archive; the FULL export covers it
    live_stage = live.run_live_stage(
        emu,
        stack,
        app,
        archiver,
        first_tick=first_export,
        rounds=options.rounds,
        writes_per_round=options.writes_per_round,
        progress=progress,
    )
    out.line(live.render(live_stage))
    report.stages["live"] = asdict(live_stage)
    report.checks["export chain: one FULL then gap-free INCREMENTAL exports"] = live_stage.ok
    report.checks["CDC archive holds every change"] = live_stage.records_archived >= (
        options.rounds * options.writes_per_round
    )

    # 3. The incident, repaired in place first, then recovered by a PITR restore.
    repaired: list[repair.RepairStageResult] = []

    def repair_in_place(found: Incident) -> None:
        repaired.append(
            repair.run_repair_stage(
                emu, stack, logical_table=TABLE, incident=found, archive=archiver.drain, progress=progress
            )
        )

    incident = run_incident(
        emu,
        stack,
        app,
        archiver,
        logical_table=TABLE,
        corruption_share=options.corruption_share,
        good_writes_after=options.good_writes_after_incident,
        validation=options.validation,
        detect_minutes=max(options.detect_minutes, AWS_LATEST_LAG_SECONDS / 60),
        progress=progress,
        before_restore=repair_in_place,
    )
    report.stages["incident"] = asdict(incident)
    for stage_result in repaired:
        _repair_checks(report, stage_result, options)
    report.checks["restore state machine succeeded with cutover"] = (
        incident.execution_status == "SUCCEEDED" and incident.live_table != TABLE
    )
    report.checks["live table equals the pre-incident state, item by item"] = incident.restored_exactly
    report.checks["good writes after T recoverable from the CDC archive"] = (
        incident.replayable_good_writes == incident.good_writes_after_incident
    )
    # 4. The archiver of the (now) live table gets stuck: caught in minutes, nothing lost once fixed.
    _stuck_archiver(emu, stack, incident.live_table or TABLE, progress, report, out)

    rpo_check = f"RPO <= {options.rpo_minutes} min (data actually lost)"
    rto_check = f"RTO <= {options.rto_minutes} min (measured + assumed parts)"
    if incident.execution_status != "SUCCEEDED":  # nothing recovered: no objective is met
        report.checks[rpo_check] = report.checks[rto_check] = False
        return []
    objectives = objectives_of(incident, options)
    report.objectives = objectives.as_dict()
    if repaired:
        stage = report.stages["repair"]
        parts = [RtoPart(**part) for part in stage["rto_parts"]]
        stage["comparison"] = repair.render(repaired[0], parts, stage["rto_seconds"], objectives.rto_seconds)
    report.checks[rpo_check] = objectives.rpo_met
    report.checks[rto_check] = objectives.rto_met
    return [objectives]


def _repair_checks(report: DrillReport, result: repair.RepairStageResult, options: DrillOptions) -> None:
    parts = repair.repair_rto_parts(
        result,
        detect_minutes=options.detect_minutes,
        real_items=options.real_items,
        sample_items=report.items_loaded or options.items,
    )
    report.stages["repair"] = {
        **asdict(result),
        "rto_seconds": round(sum(p.seconds for p in parts), 1),
        "rto_parts": [asdict(p) for p in parts],
    }
    report.checks["repair in place: every damaged customer back exactly, nothing else touched"] = result.ok
    report.checks["repair in place: every good sign-up after the window kept"] = (
        result.signups > 0 and result.signups_kept == result.signups
    )
    report.checks["repair in place: backup first, proven by the archive, under a minute here"] = (
        bool(result.report.get("backup"))
        and (result.report.get("proof") or {}).get("unexplained") == 0
        and result.seconds < 60
    )
    report.checks["repair in place: its own writes archived, so it can be undone"] = result.undoable


def _stuck_archiver(  # noqa: PLR0917 - one drill's context, passed once
    emu: Emulator, stack: DeployedStack, live_table: str, progress: Progress, report: DrillReport, out: Output
) -> None:
    """Runs last: its simulated minutes run ahead of the wall clock (drill/freshness.py)."""
    fresh = freshness.run_freshness_stage(
        emu,
        stack,
        live.Application(emu, live_table),
        logical_table=TABLE,
        live_table=live_table,
        progress=progress,
    )
    out.line(freshness.render(fresh))
    report.stages["freshness"] = asdict(fresh)
    report.checks["stuck CDC archiver: alarm condition raised within minutes (stream keeps 24 h)"] = (
        fresh.green_before and fresh.caught_in_time
    )
    report.checks["stuck CDC archiver fixed: backlog archived, nothing lost or doubled"] = fresh.nothing_lost


def objectives_of(incident: IncidentResult, options: DrillOptions) -> Objectives:
    return Objectives(
        restore_point=str(incident.restore_report.get("restore_point", incident.incident_at)),
        incident_at=incident.incident_at,
        lost_writes=incident.lost_writes,
        lost_span_seconds=incident.lost_span_seconds,
        lost_writes_in_archive=incident.lost_in_archive,
        rpo_objective_seconds=options.rpo_minutes * 60,
        rto_objective_seconds=options.rto_minutes * 60,
        rto_parts=rto_parts(
            detect_minutes=max(options.detect_minutes, AWS_LATEST_LAG_SECONDS / 60),
            phases=incident.phase_seconds,
            aws_restore_minutes=options.aws_restore_minutes,
            real_items=options.real_items,
            segments=int(options.validation.get("segments", 4)),
            sample_items=incident.items_expected or options.items,
        ),
    )


def _summary(report: DrillReport, objectives: Objectives | None) -> str:
    lines = []
    incident = report.stages.get("incident", {})
    if objectives:
        verified, expected = incident.get("items_verified", 0), incident.get("items_expected", 0)
        lines += ["", render(objectives, verified, expected, incident.get("live_table", "?"))]
    elif incident.get("execution_status"):
        lines += ["", f"restore {incident['execution_status']}: {incident.get('execution_error', '')}"]
    if report.stages.get("repair", {}).get("comparison"):
        lines += [report.stages["repair"]["comparison"]]
    lines += ["", "Drill checks:"]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in report.checks.items()]
    lines += ["", f"DRILL {'PASS' if report.passed else 'FAIL'} in {report.seconds:.1f}s"]
    return "\n".join(lines)
