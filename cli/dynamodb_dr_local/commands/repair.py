"""`dynamodb-dr repair`: undo a window's changes in place from the CDC archive (repair machine).

    dynamodb-dr repair --table customers --from 2026-11-30T10:00:00Z --to 2026-11-30T10:20:00Z --dry-run
    dynamodb-dr repair --table customers --from ... --to ... --where 'deploy_version = "v42"'
    dynamodb-dr repair --resume <repair id>     continue an interrupted repair
    dynamodb-dr repair --undo <repair id>       put back what a repair wrote

The request is checked here first (window, filters, table): bad input is one line and exit 2
before anything starts. The state machine then plans (and refuses a window the archive does not
cover: exit 2, nothing written), backs the table up, applies and proves; this command follows it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dynamodb_dr.core import errors
from dynamodb_dr.core.errors import DynamoDbDrError
from dynamodb_dr.repair.models import RepairRequest, parse_request
from dynamodb_dr_local.commands.cdc_common import parse_time
from dynamodb_dr_local.errors import CliError, Interrupted, OperationFailed
from dynamodb_dr_local.stack_lookup import add_stack_arguments, command_hint, lookup

POLL_SECONDS = 1.0
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "repair",
        help="undo a window's changes in place from the CDC archive (keeps every other write)",
        description=(
            "Put every key changed in [--from, --to) back to its image before its first selected change, "
            "in the live table, from the CDC archive: conditional writes (a key changed since the plan is "
            "never overwritten), an on-demand backup first, a proof after. Start with --dry-run."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--table", help="logical (protected) table to repair")
    mode.add_argument(
        "--resume", metavar="REPAIR_ID", help="continue an interrupted repair from its checkpoint"
    )
    mode.add_argument(
        "--undo", metavar="REPAIR_ID", help="put every key a repair wrote back to its state before"
    )
    mode.add_argument("--input", type=Path, help="a repair request as JSON (the console's input)")
    parser.add_argument(
        "--from", dest="start", type=parse_time, help="window start (inclusive), ISO 8601 or now-30m"
    )
    parser.add_argument("--to", dest="end", type=parse_time, help="window end (exclusive)")
    parser.add_argument(
        "--event",
        action="append",
        help="undo only these change types: INSERT, MODIFY, REMOVE (repeatable or comma separated)",
    )
    parser.add_argument(
        "--where", help="undo only changes whose new image matches, e.g. 'deploy_version = \"v42\"'"
    )
    parser.add_argument("--key", action="append", help="undo only this key, as JSON (repeatable)")
    parser.add_argument("--keys-file", type=Path, help="undo only these keys: one JSON key per line")
    parser.add_argument(
        "--include-ttl", action="store_true", help="also undo TTL deletions (resurrects items)"
    )
    parser.add_argument(
        "--conflicts",
        choices=["skip", "overwrite"],
        default="skip",
        help="keys changed again after the window: leave them (default) or write them back anyway",
    )
    parser.add_argument(
        "--max-write-share", type=float, default=0.5, help="share of the table's write capacity"
    )
    parser.add_argument("--dry-run", action="store_true", help="plan and report only; write nothing")
    parser.add_argument(
        "--name", help="execution name, which is the repair id (default repair-<table>-<time>-<random>)"
    )
    parser.add_argument("--no-follow", action="store_true", help="start and return")
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.input:
        try:
            loaded = json.loads(args.input.read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read repair request {args.input}: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliError(f"{args.input} holds no JSON object")
        return loaded
    if args.resume:
        return {"resume": args.resume}
    if args.undo:
        return {"undo": args.undo, "dry_run": args.dry_run, "max_write_share": args.max_write_share}
    if args.start is None or args.end is None:
        raise CliError("a repair needs --from and --to", hint="e.g. --from 2026-11-30T10:00:00Z --to now-5m")
    request: dict[str, Any] = {
        "table": args.table,
        "from": args.start.isoformat(),
        "to": args.end.isoformat(),
        "conflicts": args.conflicts,
        "include_ttl": args.include_ttl,
        "max_write_share": args.max_write_share,
        "dry_run": args.dry_run,
    }
    if args.event:
        request["events"] = [e.strip().upper() for part in args.event for e in part.split(",") if e.strip()]
    if args.where is not None:
        request["where"] = args.where
    keys = [_json_key(text, "--key") for text in args.key or []]
    if args.keys_file:
        try:
            lines = args.keys_file.read_text().splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {args.keys_file}: {exc}") from None
        keys += [_json_key(line, str(args.keys_file)) for line in lines if line.strip()]
    if keys:
        request["keys"] = keys
    return request


def _json_key(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise CliError(f"{where}: {text[:80]!r} is not JSON", name="RepairRequestInvalid") from None


def _run(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    try:  # the state machine checks again; here bad input costs nothing and exits 2 at once
        parsed = parse_request(request)
        if isinstance(parsed, RepairRequest):
            parsed.check_time(datetime.now(UTC))
    except DynamoDbDrError as exc:
        raise CliError(str(exc), name=exc.code) from None
    stack = lookup(args)
    if isinstance(parsed, RepairRequest):
        stack.require_protected(parsed.table)
    machine = stack.output("RepairStateMachineArn")
    sfn = stack.clients.client("stepfunctions")
    name = args.name or _default_name(parsed)
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(request))[
            "executionArn"
        ]
    except Exception as exc:
        if "ExecutionAlreadyExists" in type(exc).__name__ or "ExecutionAlreadyExists" in str(exc):
            raise CliError(f"a repair named {name!r} already exists", hint="pass another --name") from None
        raise
    print(f"started repair {name}", file=sys.stderr)
    if args.no_follow:
        print(name)
        return 0
    try:
        described = follow(sfn, arn)
    except KeyboardInterrupt:
        resume = command_hint(args, "repair", "--resume", name)
        raise Interrupted(
            f"stopped following repair {name}; it goes on in AWS",
            hint=f"follow it in the Step Functions console; if it stops, continue it with {resume}",
        ) from None
    return finish(described, name, args, s3=stack.clients.client("s3"))


def _default_name(parsed: Any) -> str:
    # The random part keeps two repairs started within one second apart (as restore names do).
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    if isinstance(parsed, RepairRequest):
        return f"repair-{parsed.table}-{stamp}"[:80]
    which = "undo" if hasattr(parsed, "undo") else "resume"
    return f"{which}-{getattr(parsed, which)}-{stamp}"[:80]


def follow(sfn: Any, arn: str, *, poll_seconds: float | None = None) -> dict[str, Any]:
    """Poll until the execution ends; each state entered goes to stderr."""
    seen = 0
    while True:
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        for event in events[seen:]:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                print(f"  -> {entered['name']}", file=sys.stderr)
        seen = len(events)
        described = dict(sfn.describe_execution(executionArn=arn))
        if described["status"] in TERMINAL:
            return described
        time.sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)


def finish(described: dict[str, Any], name: str, args: argparse.Namespace, *, s3: Any = None) -> int:
    if described["status"] == "SUCCEEDED":
        report = full_report(json.loads(described.get("output") or "{}"), s3)
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0
    error = str(described.get("error") or described["status"])
    message = _cause(described.get("cause")) or described["status"].lower()
    known = getattr(errors, error, None)
    if isinstance(known, type) and issubclass(known, DynamoDbDrError) and known.changed_nothing:
        raise CliError(message, name=error)  # refused before anything was written: exit 2
    hint = (
        f"see the repair topic's message; continue with {command_hint(args, 'repair', '--resume', name)} "
        f"or put it back with {command_hint(args, 'repair', '--undo', name)}"
    )
    raise OperationFailed(message, hint=hint, name=error)


def full_report(report: dict[str, Any], s3: Any) -> dict[str, Any]:
    """The execution's output plus what only the stored report holds (the sample of keys)."""
    location = str(report.get("report_object") or "")
    if s3 is None or not location.startswith("s3://"):
        return report
    bucket, _, key = location.removeprefix("s3://").partition("/")
    try:
        stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:  # the report itself is complete without the sample
        print(f"(sample of keys not read from {location}: {type(exc).__name__})", file=sys.stderr)
        return report
    return {**report, **{k: v for k, v in stored.items() if k not in report}}


def _cause(cause: Any) -> str:
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return str(cause).splitlines()[0][:500]
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed)[:500]
    return str(parsed)[:500]


def render(report: dict[str, Any]) -> str:
    keys = report.get("keys") or {}
    lines = [
        f"repair {report.get('repair_id')} of {report.get('table')} "
        f"(live table {report.get('live_table')}): {report.get('status')}"
    ]
    window = report.get("window") or {}
    lines.append(f"  window            {window.get('from')} .. {window.get('to')} (to is exclusive)")
    changes = report.get("changes") or {}
    if changes:
        in_window, selected = _counts(changes.get("in_window")), _counts(changes.get("selected"))
        lines.append(f"  changes           in window {in_window}; selected {selected}")
    lines.append(
        "  keys              "
        + ", ".join(f"{value} {name}" for name, value in keys.items() if name not in ("affected",))
        + f" (of {keys.get('affected', 0)} affected)"
    )
    conflicts = report.get("conflicts") or {}
    lines.append(
        f"  conflicts         {conflicts.get('count', 0)} changed after the window or mixed (policy "
        f"{conflicts.get('policy')}), {conflicts.get('changed_since_plan', 0)} changed since the plan"
    )
    for label, name in (("sample keys", "sample_keys"), ("conflict keys", "conflict_keys")):
        sample = report.get(name) or []
        if sample:
            shown = "; ".join(json.dumps(k, separators=(",", ":")) for k in sample[:5])
            lines.append(f"  {label:<17} {shown}{' ...' if len(sample) > 5 else ''}")
    estimate = report.get("estimate") or {}
    if estimate:
        lines.append(
            f"  estimate          {estimate.get('writes')} writes, {estimate.get('write_units')} write units "
            f"at {estimate.get('units_per_second')}/s ({estimate.get('share')} of "
            f"{estimate.get('table_write_capacity')}, {estimate.get('capacity_source')}): "
            f"~{estimate.get('apply_seconds')} s + {estimate.get('backup_settle_seconds')} s after the backup"
        )
    for name in ("backup", "applied", "proof", "data_loss_window", "undo"):
        if report.get(name):
            lines.append(f"  {name:<17} {json.dumps(report[name], separators=(', ', ': '), default=str)}")
    lines.append(f"  duration          {report.get('duration_seconds')} s")
    return "\n".join(lines)


def _counts(counts: Any) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{kind} {number}" for kind, number in sorted(dict(counts).items()))
