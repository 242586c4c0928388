"""`dynamodb-dr replay`: apply a table's archived changes between two times to a target table."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.cdc.erasure import load_erasures
from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr_local.commands.cdc_common import (
    add_stack_arguments,
    parse_time,
    refuse_live_target,
    stack_context,
)
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output, key_values


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay the CDC archive of a table into a target table",
        description=(
            "Apply the archived changes of TABLE between --from and --to to --target: last writer wins "
            "per key, puts and deletes. Idempotent. Refuses a protected live table without --force."
        ),
    )
    parser.add_argument("--table", required=True, help="logical (protected) table whose archive is read")
    parser.add_argument("--from", dest="start", required=True, type=parse_time, help="start time (inclusive)")
    parser.add_argument("--to", dest="end", required=True, type=parse_time, help="end time (inclusive)")
    parser.add_argument("--target", required=True, help="table to write into")
    parser.add_argument("--dry-run", action="store_true", help="read and plan only; write nothing")
    parser.add_argument("--force", action="store_true", help="allow writing into a protected live table")
    parser.add_argument("--workers", type=int, default=8, help="parallel BatchWriteItem workers (default 8)")
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    context = stack_context(args)
    context.require_protected(args.table)
    refuse_live_target(context, args.target, force=args.force)
    try:
        request = ReplayRequest(
            table=args.table,
            start=args.start,
            end=args.end,
            target=args.target,
            dry_run=args.dry_run,
            force=args.force,
            workers=args.workers,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())
        raise CliError(f"invalid replay request: {problems}") from None

    def progress(done: int, total: int) -> None:
        out.progress(f"replay: {done:,}/{total:,} keys written", final=done >= total)

    erasures = load_erasures(context.clients.client("s3"), context.bucket, args.table)
    report = replay(
        request,
        context.store(),
        context.clients.client("dynamodb"),
        context.live,
        progress=progress,
        erasures=erasures,
        # Into a new table, what it held before reflects at best the window's start; a live
        # table (--force) holds the application's own erasures and later writes.
        base=None if args.target in context.live else request.start,
    )
    fields = asdict(report)
    out.result(fields, lambda: key_values(list(fields.items()), indent=""))
    return 0
