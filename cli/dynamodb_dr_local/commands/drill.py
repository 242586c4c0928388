"""`dynamodb-dr drill`: the DR drill on the embedded emulator."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dynamodb_dr_local.drill.run import DrillOptions, run_drill


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drill",
        help="run the DR drill offline on the embedded AWS emulator",
        description="Protect a sample table, then show backups, retention and PITR repair, offline.",
    )
    parser.add_argument("--items", type=_positive, default=10_000, help="customers in the sample table")
    parser.add_argument(
        "--backup-days", type=_at_least_two, default=10, help="simulated days of scheduled backups (>= 2)"
    )
    parser.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    parser.set_defaults(run=_run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _at_least_two(text: str) -> int:
    value = _positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2 (retention needs history to prune)")
    return value


def _run(args: argparse.Namespace) -> int:
    report = run_drill(DrillOptions(items=args.items, backup_days=args.backup_days, report_file=args.report))
    return 0 if report.passed else 1
