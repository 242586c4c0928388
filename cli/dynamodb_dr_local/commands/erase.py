"""`dynamodb-dr erase`: keep an item key erased in everything the tool writes back.

Records the key on the table's erasure list (archive bucket, `dynamodb_dr.cdc.erasure`): every
restore, replay, rebuild from S3 and repair applies it. Then removes the key's history from the
CDC archive where Object Lock allows (`dynamodb_dr.cdc.purge`). The tool never writes to the live
table: delete the item there yourself (your application's erasure) before or after.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.cdc.erasure import Erasure, ErasureStore
from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.cdc.purge import purge_history
from dynamodb_dr_local.commands.cdc_common import StackContext, add_stack_arguments, parse_key, stack_context
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output, key_values

STILL_HOLDING = (
    "on-demand backups, PITR and S3 exports still hold the key until their retention ends "
    "(BackupRetentionDays / MonthlyBackupRetentionDays, PITR's period, ExportRetentionDays); "
    "every restore, rebuild, replay and repair deletes it again"
)


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
        "--bypass-governance",
        action="store_true",
        help="delete versions under GOVERNANCE-mode Object Lock (needs s3:BypassGovernanceRetention)",
    )
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def _key_schema(context: StackContext, table: str) -> set[str]:
    dynamodb = context.clients.client("dynamodb")
    live = context.live_table(table)
    try:
        description = dynamodb.describe_table(TableName=live)["Table"]
    except Exception as exc:
        raise CliError(f"cannot read the key schema of {live}: {exc}") from None
    return {k["AttributeName"] for k in description["KeySchema"]}


def _run(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    context = stack_context(args)
    context.require_protected(args.table)
    names = _key_schema(context, args.table)
    now = datetime.now(UTC)
    erasures: list[Erasure] = []
    for key in args.key:
        if set(key) != names:
            raise CliError(
                f"--key names {sorted(key)}, but the key of {args.table} is {sorted(names)}",
                hint="give exactly the table's key attributes",
                name="InvalidInput",
            )
        try:
            erasures.append(Erasure(table=args.table, key=key, erased_at=now, reason=args.reason))
        except ValidationError as exc:
            raise CliError(f"invalid erasure: {exc.errors()[0]['msg']}", name="InvalidInput") from None
    store = ErasureStore(context.clients.client("s3"), context.bucket)
    recorded = [store.record(e) for e in erasures]  # before the purge: a failed purge can be re-run
    result: dict[str, Any] = {
        "table": args.table,
        "keys": len(erasures),
        "recorded": recorded,
        "erased_at": now,
    }
    if args.keep_history:
        result["archive"] = "left as it is (--keep-history)"
    else:
        purge = purge_history(
            context.clients.client("s3"),
            context.bucket,
            args.table,
            {key_id_of(e.key) for e in erasures},
            bypass_governance=args.bypass_governance,
        )
        result["archive"] = asdict(purge)
        if purge.versions_locked:
            out.note(
                f"{purge.versions_locked} archive object version(s) holding these keys are under Object "
                f"Lock retention until {purge.locked_until or 'their retention date'}: they cannot be "
                "deleted before then (COMPLIANCE mode: by nobody); the lifecycle removes them after it"
            )
    result["still_holding"] = STILL_HOLDING
    out.result(result, lambda: key_values(_human(result), indent=""))
    return 0


def _human(result: dict[str, Any]) -> list[tuple[str, Any]]:
    archive = result["archive"]
    if isinstance(archive, dict):
        archive = (
            f"{archive['changes_removed']} change(s) removed from {archive['objects_rewritten']} object(s) "
            f"({archive['objects_emptied']} left empty, recorded as erased), "
            f"{archive['versions_deleted']} old version(s) deleted, {archive['versions_locked']} locked"
        )
    return [
        ("table", result["table"]),
        ("keys recorded", result["keys"]),
        ("erased at", result["erased_at"].isoformat()),
        ("CDC archive", archive),
        ("still holding", result["still_holding"]),
    ]
