"""`dynamodb-dr item`: one item's archived history, and restoring it to its state at a time."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.replay import item_history, restore_item, state_at
from dynamodb_dr_local.commands.cdc_common import (
    add_stack_arguments,
    parse_key,
    parse_time,
    refuse_live_target,
    stack_context,
)
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output, key_values, table

DEFAULT_LOOKBACK = timedelta(days=7)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("item", help="one item's history in the CDC archive, or restore it")
    actions = parser.add_subparsers(dest="item_action", required=True, metavar="ACTION")
    history = actions.add_parser("history", help="every archived version of one item")
    restore = actions.add_parser("restore", help="restore one item to its state at --at")
    for sub in (history, restore):
        sub.add_argument("--table", required=True, help="logical (protected) table")
        sub.add_argument(
            "--key", required=True, type=parse_key, help='the item key as JSON, e.g. {"id": "a"}'
        )
        sub.add_argument("--from", dest="start", type=parse_time, help="search from (default: 7 days back)")
        add_stack_arguments(sub)
    history.add_argument("--to", dest="end", type=parse_time, help="search until (default: now)")
    history.set_defaults(run=_history)
    restore.add_argument("--at", required=True, type=parse_time, help="the time to restore the item to")
    restore.add_argument("--target", help="table to write (default: the table's live table)")
    restore.add_argument("--force", action="store_true", help="allow writing into a protected live table")
    restore.add_argument("--dry-run", action="store_true", help="show the state; write nothing")
    restore.set_defaults(run=_restore)


def _history(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    context = stack_context(args)
    context.require_protected(args.table)
    end = args.end or datetime.now(UTC)
    changes = item_history(context.store(), args.table, args.key, args.start or end - DEFAULT_LOOKBACK, end)
    if not changes:
        raise CliError(
            "no archived change of this item in the searched window",
            hint="widen it with --from (default: 7 days back) and --to",
            name="NoChanges",
        )
    if out.json_mode:
        for change in changes:
            out.json_line(json.loads(change.to_line()))
        return 0
    rows = [
        (
            f"{c.approximate_creation:%Y-%m-%d %H:%M:%S.%f}"[:-3],
            c.event_name,
            c.sequence_number,
            c.source_table,
            ", ".join(sorted((c.new_image or {}).keys())) or "-",
        )
        for c in changes
    ]
    out.result(None, table(("TIME (UTC)", "EVENT", "SEQUENCE", "TABLE", "ATTRIBUTES AFTER"), rows))
    return 0


def _restore(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    context = stack_context(args)
    context.require_protected(args.table)
    target = args.target or context.live_table(args.table)
    if not args.dry_run:
        refuse_live_target(context, target, force=args.force)
    start = args.start or args.at - DEFAULT_LOOKBACK
    history = item_history(context.store(), args.table, args.key, start, datetime.now(UTC))
    state = state_at(history, args.at)
    summary = {
        "target": target,
        "at": args.at.isoformat(),
        "exists": state.exists,
        "based_on": state.based_on.sequence_number,
        "item": state.item,
    }
    if args.dry_run:
        action = "none (dry run)"
    else:
        dynamodb = context.clients.client("dynamodb")
        action = restore_item(state, dynamodb, target, context.live, force=args.force)
    result = {**summary, "action": action}
    out.result(
        result,
        lambda: key_values(
            [
                ("target", target),
                ("state at", f"{args.at.isoformat()}: {'exists' if state.exists else 'did not exist'}"),
                ("based on change", state.based_on.sequence_number),
                ("action", action),
            ],
            indent="",
        ),
    )
    return 0
