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
        description=(
            "Protect a sample customers table (backups, exports, CDC archive), corrupt it with a bad "
            "deploy, restore it with the restore state machine, verify it item by item and report "
            "RPO (data actually lost) and RTO (measured and assumed parts) against the objectives. "
            "Offline. Progress on stderr, the report on stdout (--json: as JSON). Exit status 1 when "
            "any check fails."
        ),
    )
    parser.add_argument("--items", type=_positive, default=10_000, help="customers in the sample table")
    parser.add_argument(
        "--backup-days", type=_at_least_three, default=7, help="simulated days of scheduled backups (>= 3)"
    )
    parser.add_argument(
        "--corruption-share", type=_share, default=0.05, help="share of items the bad deploy hits (0-1)"
    )
    parser.add_argument("--rpo-minutes", type=_positive, default=15, help="recovery point objective")
    parser.add_argument("--rto-minutes", type=_positive, default=60, help="recovery time objective")
    parser.add_argument(
        "--detect-minutes",
        type=float,
        default=10.0,
        help="assumed time from the incident to the restore's start (at least PITR's ~5 min lag; default 10)",
    )
    parser.add_argument(
        "--aws-restore-minutes",
        type=float,
        default=20.0,
        help="assumed time of DynamoDB's own restore (not emulated; use your rehearsals; default 20)",
    )
    parser.add_argument(
        "--real-items",
        type=_positive,
        default=10_000_000,
        help="your table's item count, for the validation-time estimate in the RTO (default 10,000,000)",
    )
    parser.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    parser.set_defaults(run=_run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _at_least_three(text: str) -> int:
    value = _positive(text)
    if value < 3:
        raise argparse.ArgumentTypeError("must be at least 3 (retention needs history to prune)")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1 (exclusive)")
    return value


def _run(args: argparse.Namespace) -> int:
    options = DrillOptions(
        items=args.items,
        backup_days=args.backup_days,
        corruption_share=args.corruption_share,
        rpo_minutes=args.rpo_minutes,
        rto_minutes=args.rto_minutes,
        detect_minutes=args.detect_minutes,
        aws_restore_minutes=args.aws_restore_minutes,
        real_items=args.real_items,
        report_file=args.report,
        json_output=args.json,
    )
    report = run_drill(options)
    return 0 if report.passed else 1
