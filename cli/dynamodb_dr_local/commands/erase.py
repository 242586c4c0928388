"""`dynamodb-dr erase`: keep an item key erased in everything the tool writes back.

Records the key on the table's erasure list (archive bucket, `dynamodb_dr.cdc.erasure`): every
restore, replay, rebuild from S3 and repair applies it. Then removes the key's history from the
CDC archive where Object Lock allows (`dynamodb_dr.cdc.purge`), including changes made before the
erasure that were still on their way to the archive: it reads the live stream for them and, while
the archiver's mapping reads it, waits (`--wait`) to remove them once archived
(`dynamodb_dr.cdc.in_flight`). The tool never writes to the live table: delete the item there
yourself (your application's erasure) before or after.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.cdc.erasure import Erasure, ErasureStore, erased_before, object_key
from dynamodb_dr.cdc.in_flight import ErasedKeyRecords, archiver_reads, made_before_erasure, not_yet_erased
from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.cdc.purge import PurgeReport, purge_history
from dynamodb_dr_local.commands.cdc_common import StackContext, add_stack_arguments, parse_key, stack_context
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output, key_values

STILL_HOLDING = (
    "on-demand backups, PITR and S3 exports still hold the key until their retention ends "
    "(BackupRetentionDays / MonthlyBackupRetentionDays, PITR's period, ExportRetentionDays); "
    "every restore, rebuild, replay and repair deletes it again"
)
POLL_SECONDS = 5.0
STREAM_CHECK_RECORDS = 100_000  # stream records read for changes still on their way
sleep = time.sleep  # the wait for the archiver (tests let time pass here)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "erase",
        help="keep an item key erased through restores, replays, rebuilds and repairs",
        description=(
            "Record KEY on TABLE's erasure list (applied after every restore, replay, rebuild and "
            "repair) and remove its history from the CDC archive where Object Lock allows. Does not "
            "touch the live table."
        ),
    )
    parser.add_argument("--table", required=True, help="logical (protected) table")
    parser.add_argument(
        "--key",
        required=True,
        action="append",
        type=parse_key,
        help='the item key as JSON, e.g. {"id": "a"} (repeat for several)',
    )
    parser.add_argument("--reason", default="", help="why (e.g. a request id); stored with the entry")
    parser.add_argument(
        "--keep-history", action="store_true", help="record only; leave the CDC archive as it is"
    )
    parser.add_argument(
        "--purge-only",
        action="store_true",
        help="keys already on the list: remove their history again (what arrived since), record nothing",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="how long to wait for changes still on their way to the archive (default 90)",
    )
    parser.add_argument(
        "--bypass-governance",
        action="store_true",
        help="delete versions under GOVERNANCE-mode Object Lock (needs s3:BypassGovernanceRetention)",
    )
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def _live_table(context: StackContext, table: str) -> tuple[set[str], str | None]:
    """The live table's key attribute names and its stream (None when off)."""
    dynamodb = context.clients.client("dynamodb")
    live = context.live_table(table)
    try:
        description = dynamodb.describe_table(TableName=live)["Table"]
    except Exception as exc:
        raise CliError(f"cannot read the key schema of {live}: {exc}") from None
    return {k["AttributeName"] for k in description["KeySchema"]}, description.get("LatestStreamArn")


def _run(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    context = stack_context(args)
    context.require_protected(args.table)
    if args.purge_only and args.keep_history:
        raise CliError("--purge-only removes history, --keep-history keeps it: pick one", name="InvalidInput")
    names, stream_arn = _live_table(context, args.table)
    for key in args.key:
        if set(key) != names:
            raise CliError(
                f"--key names {sorted(key)}, but the key of {args.table} is {sorted(names)}",
                hint="give exactly the table's key attributes",
                name="InvalidInput",
            )
    store = ErasureStore(context.clients.client("s3"), context.bucket)
    erasures = _listed(store, args) if args.purge_only else _record(store, args)
    result: dict[str, Any] = {
        "table": args.table,
        "keys": len(erasures),
        "recorded": [] if args.purge_only else [object_key(e.table, e.key) for e in erasures],
        "erased_at": max(e.erased_at for e in erasures),
    }
    if args.keep_history:
        result["archive"] = "left as it is (--keep-history)"
    else:
        purge, in_flight = _purge(context, args, erasures, stream_arn)
        if purge.versions_locked:
            out.note(
                f"{purge.versions_locked} archive object version(s) holding these keys are under Object "
                f"Lock retention until {purge.locked_until or 'their retention date'}: they cannot be "
                "deleted before then (COMPLIANCE mode: by nobody); the lifecycle removes them after it"
            )
        _note_pending(out, args, in_flight)
        result["archive"] = asdict(purge) | {"in_flight": in_flight}
    result["still_holding"] = STILL_HOLDING
    out.result(result, lambda: key_values(_human(result), indent=""))
    return 0


def _record(store: ErasureStore, args: argparse.Namespace) -> list[Erasure]:
    now = datetime.now(UTC)
    erasures: list[Erasure] = []
    for key in args.key:
        try:
            erasures.append(Erasure(table=args.table, key=key, erased_at=now, reason=args.reason))
        except ValidationError as exc:
            raise CliError(f"invalid erasure: {exc.errors()[0]['msg']}", name="InvalidInput") from None
    for erasure in erasures:  # before the purge: a failed purge can be re-run (--purge-only)
        store.record(erasure)
    return erasures


def _listed(store: ErasureStore, args: argparse.Namespace) -> list[Erasure]:
    """The keys' erasures as recorded (their times stay): each key must be on the list."""
    latest = {e.key_id: e for e in sorted(store.entries(args.table), key=lambda e: e.erased_at)}
    missing = [key for key in args.key if key_id_of(key) not in latest]
    if missing:
        raise CliError(
            f"{len(missing)} key(s) are not on the erasure list of {args.table}: nothing was purged",
            hint="erase them first (without --purge-only)",
            name="InvalidInput",
        )
    return [latest[key_id_of(key)] for key in args.key]


def _purge(
    context: StackContext, args: argparse.Namespace, erasures: list[Erasure], stream_arn: str | None
) -> tuple[PurgeReport, dict[str, Any]]:
    """Remove the keys' history, then their changes made before the erasure that the live stream
    holds and the archive did not yet: waited for (`--wait`) while the archiver's mapping reads
    the stream, each purged once archived."""
    s3, table = context.clients.client("s3"), args.table
    erased = erased_before(erasures)
    key_ids = set(erased)
    started = datetime.now(UTC)
    report = purge_history(s3, context.bucket, table, erased, bypass_governance=args.bypass_governance)
    if not stream_arn:
        return report, {"checked": True, "stream_records": 0, "pending": 0, "archiver_reads_stream": False}
    found, truncated = ErasedKeyRecords(context.clients.client("dynamodbstreams")).find(
        stream_arn, key_ids, STREAM_CHECK_RECORDS
    )
    made = made_before_erasure(found, erased)
    left = not_yet_erased(context.store(), table, made)
    archiver = context.stack_info.outputs.get("CdcArchiverFunctionName")
    reading = False
    if left and archiver:
        reading = archiver_reads(context.clients.client("lambda"), archiver, stream_arn)
    deadline, again = time.monotonic() + max(0.0, args.wait), 0
    while left and reading and time.monotonic() < deadline:
        sleep(POLL_SECONDS)
        since, started = started, datetime.now(UTC)
        hours = {c.hour for c in left}
        bypass = args.bypass_governance
        again_report = purge_history(
            s3, context.bucket, table, erased, bypass_governance=bypass, hours=hours, since=since
        )
        report.add(again_report)
        again += 1
        left = not_yet_erased(context.store(), table, left)
    return report, {
        "checked": not truncated,
        "stream_records": len(made),
        "pending": len(left),
        "archiver_reads_stream": reading,
        "purged_again": again,
    }


def _note_pending(out: Output, args: argparse.Namespace, in_flight: dict[str, Any]) -> None:
    keys = " ".join(f"--key '{json.dumps(key)}'" for key in args.key)
    if in_flight["pending"]:
        reason = "" if in_flight["archiver_reads_stream"] else " (no archiver mapping reads the stream now)"
        out.note(
            f"{in_flight['pending']} change(s) of these keys made before the erasure are not in the archive "
            f"yet{reason}: once archived they hold the keys' history again; after the archiver delivered "
            f"them run: dynamodb-dr erase --table {args.table} {keys} --purge-only"
        )
    if not in_flight["checked"]:
        out.note(
            f"the live stream holds more than {STREAM_CHECK_RECORDS:,} records: changes of these keys still "
            "on their way to the archive were not looked for; run erase with --purge-only in a few minutes"
        )


def _human(result: dict[str, Any]) -> list[tuple[str, Any]]:
    archive = result["archive"]
    flight = None
    if isinstance(archive, dict):
        flight = archive["in_flight"]
        archive = (
            f"{archive['changes_removed']} change(s) removed from {archive['objects_rewritten']} object(s) "
            f"({archive['objects_emptied']} left empty, recorded as erased), "
            f"{archive['versions_deleted']} old version(s) deleted, {archive['versions_locked']} locked"
        )
    rows = [
        ("table", result["table"]),
        ("keys recorded" if result["recorded"] else "keys purged again", result["keys"]),
        ("erased at", result["erased_at"].isoformat()),
        ("CDC archive", archive),
    ]
    if flight is not None:
        rows.append(
            (
                "on their way",
                f"{flight['stream_records']} stream record(s) of these keys before the erasure, "
                f"{flight['pending']} not in the archive yet"
                + ("" if flight["checked"] else " (not all read)"),
            )
        )
    return [*rows, ("still holding", result["still_holding"])]
