"""`dynamodb-dr restore | follow | approve | reject | rollback | stop | restores`: drive the deployed
restore state machine. Starting checks the request first (restore_check.py); following is in
restore_follow.py; answering, stopping and listing in restore_control.py."""

from __future__ import annotations

import argparse
import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dynamodb_dr_local.commands import restore_control
from dynamodb_dr_local.commands.restore_check import check_request
from dynamodb_dr_local.commands.restore_follow import Follow, execution_arn, follow
from dynamodb_dr_local.errors import EXIT_OK, CliError
from dynamodb_dr_local.output import Output
from dynamodb_dr_local.stack_lookup import add_stack_arguments, command_hint, lookup

EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
DEFAULT_CUTOVER = "approval"


def register(subparsers: Any) -> None:
    start = subparsers.add_parser(
        "restore",
        help="check a restore request, start it and follow it to its report",
        description=(
            "Check the request (protected tables, restorable window, same model as the state machine), "
            "start the stack's restore state machine and follow it. Ctrl-C stops following only: "
            "the restore goes on (`follow`, `stop`)."
        ),
    )
    source = start.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", type=Path, help="restore request JSON file (e.g. events/restore-latest.json)"
    )
    source.add_argument("--table", action="append", help="logical table to restore (repeatable)")
    source.add_argument(
        "--resume",
        metavar="EXECUTION",
        help="finish a failed or timed-out restore on the tables it restored (no second restore)",
    )
    when = start.add_mutually_exclusive_group()
    when.add_argument("--time", help="restore point, ISO 8601 with timezone (e.g. 2026-11-26T09:59:00Z)")
    when.add_argument("--latest", action="store_true", help="restore to the latest restorable time")
    start.add_argument(
        "--cutover",
        choices=["automatic", "approval", "none"],
        help=f"when to switch the live table (default: {DEFAULT_CUTOVER}; overrides the --input file's)",
    )
    start.add_argument("--name", help="execution name (default: restore-<UTC time>-<random>)")
    start.add_argument("--no-follow", action="store_true", help="start, print how to follow, and return")
    add_stack_arguments(start)
    start.set_defaults(run=_start)
    restore_control.register(subparsers)

    resume = subparsers.add_parser(
        "follow", help="follow a running restore (again) to its report or its approval wait"
    )
    resume.add_argument("execution", help="execution name (see `dynamodb-dr restores`)")
    add_stack_arguments(resume)
    resume.set_defaults(run=_follow)


def request_from_args(args: argparse.Namespace, out: Output) -> dict[str, Any]:
    request: dict[str, Any]
    if getattr(args, "resume", None):
        return {"resume": {"execution": args.resume}, "cutover": args.cutover or DEFAULT_CUTOVER}
    if args.input:
        try:
            loaded = json.loads(args.input.read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read restore request {args.input}: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliError(f"{args.input} is not a JSON object")
        request = loaded
        for flag, key, value in (
            ("--cutover", "cutover", args.cutover),
            ("--time", "restore_time", args.time),
        ):
            if value is not None:
                if key in request and request[key] != value:
                    out.note(f"{flag} {value} replaces the file's {key} {request[key]!r}")
                request[key] = value
        if args.time:
            request.pop("use_latest", None)
        if args.latest:
            request.pop("restore_time", None)
            request["use_latest"] = True
        return request
    if not args.time and not args.latest:
        raise CliError(
            "say which point to restore to: --time <ISO 8601 with timezone> or --latest",
            hint="after a corruption, the latest restorable time usually includes the corruption",
        )
    request = {
        "tables": [{"logical": t} for t in args.table],
        "cutover": args.cutover or DEFAULT_CUTOVER,
    }
    if args.time:
        request["restore_time"] = args.time
    else:
        request["use_latest"] = True
    return request


def default_name() -> str:
    return f"restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def _start(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    name = args.name or default_name()
    if not EXECUTION_NAME.match(name):
        raise CliError(f"execution name {name!r} must be 1-80 letters, digits, '-' or '_'")
    stack = lookup(args)
    machine = stack.output("RestoreStateMachineArn")
    request = request_from_args(args, out)
    checked = check_request(stack, request)
    sfn = stack.clients.client("stepfunctions")
    try:
        started = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(request))
    except sfn.exceptions.ExecutionAlreadyExists:
        raise CliError(
            f"an execution named {name!r} already exists",
            hint=f"follow it: `{command_hint(args, 'follow', name)}`, or choose another --name",
            name="ExecutionAlreadyExists",
        ) from None
    arn = started["executionArn"]
    what = "rollback" if checked.rollback else f"restore of {', '.join(t.logical for t in checked.tables)}"
    out.note(f"started {name}: {what}")
    job = Follow(sfn, arn, args, out)
    if args.no_follow:
        out.result(
            {"execution": name, "status": "RUNNING", "follow": command_hint(args, "follow", name)},
            f"follow it: `{command_hint(args, 'follow', name)}`",
        )
        return EXIT_OK
    out.note(f"  (Ctrl-C stops following only; `{command_hint(args, 'stop', name)}` stops the restore)")
    return follow(job)


def _follow(args: argparse.Namespace) -> int:
    stack = lookup(args)
    sfn = stack.clients.client("stepfunctions")
    arn = execution_arn(stack.output("RestoreStateMachineArn"), args.execution)
    restore_control.require_execution(sfn, arn, args)
    return follow(Follow(sfn, arn, args, Output(json_mode=args.json)))
