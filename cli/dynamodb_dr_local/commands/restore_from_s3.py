"""`dynamodb-dr restore-from-s3`: build a NEW table as of a chosen time from the S3 exports."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.exports.rebuild import RebuildReport, RebuildRequest, rebuild_from_s3
from dynamodb_dr_local.commands.cdc_common import parse_time
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output
from dynamodb_dr_local.stack_lookup import add_stack_arguments, clients, lookup


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "restore-from-s3",
        help="rebuild a table as of a point in time from the S3 exports (and the CDC archive)",
        description=(
            "Create a NEW table as of --at from the newest FULL export at or before it (import from "
            "S3), then the incremental exports after it, then the CDC archive up to --at. Needs only "
            "the archive bucket (or its DR-region replica): the source table may be gone."
        ),
    )
    parser.add_argument("--table", required=True, help="logical name of the protected table")
    parser.add_argument("--target", required=True, help="name of the new table (must not exist)")
    parser.add_argument(
        "--at",
        required=True,
        type=parse_time,
        help="point in time: ISO 8601 (UTC when no offset, e.g. 2026-11-20T12:00Z), now or now-30m",
    )
    parser.add_argument(
        "--bucket", help="archive bucket or its DR replica (default: the stack's ArchiveBucketName output)"
    )
    parser.add_argument("--prefix", default="exports", help="export prefix in the bucket (default: exports)")
    parser.add_argument(
        "--no-import", action="store_true", help="batch-write the FULL export instead of importing"
    )
    parser.add_argument(
        "--no-cdc", action="store_true", help="stop at the last export; do not replay the CDC archive"
    )
    parser.add_argument(
        "--accept-partial",
        action="store_true",
        help="accept a table short of --at when the CDC archive does not provably reach it",
    )
    parser.add_argument("--keep-partial", action="store_true", help="keep the new table if the rebuild fails")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    aws = clients(args)
    bucket = args.bucket or _stack_bucket(args)
    try:
        request = RebuildRequest(
            table=args.table,
            target=args.target,
            at=args.at,
            bucket=bucket,
            prefix=args.prefix,
            use_import=not args.no_import,
            cdc=not args.no_cdc,
            keep_partial=args.keep_partial,
            accept_partial=args.accept_partial,
            poll_seconds=args.poll_seconds,
        )
    except ValidationError as exc:
        raise InvalidInput(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc
    out = Output(json_mode=args.json)
    report = rebuild_from_s3(
        request,
        aws.client("dynamodb"),
        aws.client("s3"),
        progress=lambda line: out.note(f"  {line}"),
    )
    out.result(asdict(report), lambda: render(report))
    if args.report:
        args.report.write_text(json.dumps(asdict(report), indent=2, default=str))
    return 0


def _stack_bucket(args: argparse.Namespace) -> str:
    """Only the bucket is needed (the source region may be gone): the stack is a convenience."""
    try:
        return lookup(args).output("ArchiveBucketName")
    except CliError as exc:
        hint = "pass --bucket (the archive bucket or its DR replica)"
        raise CliError(str(exc), hint=hint, name=exc.name) from None


def render(report: RebuildReport) -> str:
    lines = [
        f"Rebuilt {report.target} from the S3 exports of {report.table}",
        f"  requested point in time : {report.requested}",
        f"  point in time reached   : {report.reached}",
        f"  by the export chain     : {report.exports_reached}",
        f"  FULL export             : {report.full_export}"
        f" ({report.full_method}, {report.items_from_full} items)",
        f"  incremental exports     : {len(report.incrementals)}"
        f" ({report.puts} puts, {report.deletes} deletes)",
        f"  CDC archive             : {report.cdc}",
        f"  items in the new table  : {report.items}",
        f"  time taken              : {report.seconds:.1f} s",
    ]
    if report.partial:
        lines.append("  PARTIAL (accepted): the CDC archive does not provably reach the requested time")
    if report.reached != report.requested:
        lines.append("  note: the table reflects the 'reached' time, not the requested one")
    return "\n".join(lines)
