"""`dynamodb-dr cleanup`: the tables restores left behind (old tables after cutovers, restored
tables kept after failed runs) past their retention. A dry run unless --apply."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.restore.cleanup import DEFAULT_RETENTION, clean_up, leftovers
from dynamodb_dr.restore.cutover import CutoverLedger
from dynamodb_dr.restore.disposal import Disposal
from dynamodb_dr.restore.pointers import PointerRecords, Pointers
from dynamodb_dr_local.stack_lookup import add_stack_arguments, lookup


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cleanup",
        help="delete restored tables left behind past their retention (dry run unless --apply)",
        description=(
            "List every <table>-dr-* table of the protected tables and what clean-up does with it. "
            "Only tables the tool restored (tagged), older than the retention, that no pointer names "
            "and that no switched cutover's rollback needs are deleted, with their alarm copies and "
            "scalable targets. Nothing changes without --apply."
        ),
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--older-than-days",
        type=int,
        default=DEFAULT_RETENTION.days,
        help=f"retention of left-behind tables in days (default {DEFAULT_RETENTION.days})",
    )
    parser.add_argument("--apply", action="store_true", help="delete them (default: only list)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    stack = lookup(args)
    settings = stack.settings()
    clients = stack.clients
    ddb = clients.client("dynamodb")
    found = leftovers(
        settings,
        ddb,
        pointers=Pointers(clients.client("ssm")),
        records=PointerRecords(ddb, settings.state_table),
        ledger=CutoverLedger(ddb, settings.state_table),
        now=datetime.now(UTC),
        retention=timedelta(days=max(0, args.older_than_days)),
    )
    disposal = Disposal(ddb, clients.client("cloudwatch"), clients.client("application-autoscaling"))
    done = clean_up(found, disposal, apply=args.apply)
    if getattr(args, "json", False):
        print(json.dumps([asdict(d) for d in done], indent=2))
        return 0
    for item in done:
        print(f"{item.action:7}  {item.table}  ({item.reason})")
    if not done:
        print("no restored tables left behind")
    elif not args.apply and any(d.action == "delete" for d in done):
        print("dry run: nothing deleted (add --apply)")
    return 0
