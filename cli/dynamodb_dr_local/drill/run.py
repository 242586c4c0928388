"""`dynamodb-dr drill`: tell the story of protecting, losing and recovering a table, offline."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dynamodb_dr_local.drill import backups
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import Emulator

TABLE = "customers"


@dataclass
class DrillOptions:
    items: int = 10_000
    backup_days: int = 10
    min_backups_kept: int = 2
    report_file: Path | None = None

    @property
    def retention_days(self) -> int:
        """Half the simulated days, so the drill always shows pruning."""
        return max(1, self.backup_days // 2)


@dataclass
class DrillReport:
    items_loaded: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


def run_drill(options: DrillOptions, progress: Progress | None = None) -> DrillReport:
    progress = progress or Progress()
    report = DrillReport()
    with Emulator() as emu:
        progress.step("emulated AWS account up (moto, in process)")
        dynamodb = emu.clients.client("dynamodb")
        create_customers_table(dynamodb, TABLE)
        resource = emu.clients.session_resource("dynamodb")
        report.items_loaded = len(load_customers(resource.Table(TABLE), options.items))
        progress.step(f"table {TABLE!r} created with {report.items_loaded:,} customers (PITR off, as found)")
        stack = emu.deploy(
            parameters={
                "ProtectedTables": TABLE,
                "BackupRetentionDays": str(options.retention_days),
                "MinBackupsKept": str(options.min_backups_kept),
            }
        )
        progress.step(f"stack {stack.name!r} deployed from template.yaml ({len(stack.resources)} resources)")
        first_tick = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(
            days=options.backup_days
        )
        stage = backups.run_backup_days(
            emu,
            stack,
            logical_table=TABLE,
            first_tick=first_tick,
            days=options.backup_days,
            progress=progress,
        )
        print(backups.render(stage), flush=True)
        report.stages["backups"] = asdict(stage)
        last = stage.days[-1]
        report.checks["pitr repaired on first run"] = stage.days[0].pitr == "repaired"
        report.checks["a backup every tick"] = stage.ok
        report.checks["retention pruned old backups"] = sum(len(d.deleted) for d in stage.days) > 0
        report.checks["newest backups kept"] = last.ours_listed >= options.min_backups_kept
        report.checks["someone else's backup untouched"] = stage.manual_backup_kept
    report.seconds = progress.elapsed
    _print_summary(report)
    if options.report_file:
        options.report_file.write_text(json.dumps(asdict(report), indent=2, default=str))
    return report


def _print_summary(report: DrillReport) -> None:
    print("\nDrill checks:")
    for name, ok in report.checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"\nDRILL {'PASS' if report.passed else 'FAIL'} in {report.seconds:.1f}s", flush=True)
