"""`dynamodb-dr restore | approve | reject | rollback`: drive the deployed restore state machine."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.stack_lookup import add_stack_arguments, lookup

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
POLL_SECONDS = 2.0
APPROVAL_ACTION = "request_approval"


def register(subparsers: Any) -> None:
    start = subparsers.add_parser(
        "restore",
        help="start a restore (same JSON as the console) and follow it",
        description="Start the stack's restore state machine and follow it to its report.",
    )
    add_stack_arguments(start)
    source = start.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", type=Path, help="restore request JSON file (e.g. events/restore-latest.json)"
    )
    source.add_argument("--table", action="append", help="logical table to restore (repeatable)")
    when = start.add_mutually_exclusive_group()
    when.add_argument("--time", help="restore point, ISO 8601 with timezone (e.g. 2026-11-26T09:59:00Z)")
    when.add_argument("--latest", action="store_true", help="restore to the latest restorable time")
    start.add_argument("--cutover", choices=["automatic", "approval", "none"], default="approval")
    start.add_argument("--name", help="execution name (default restore-<UTC timestamp>)")
    start.add_argument("--no-follow", action="store_true", help="start and return")
    start.set_defaults(run=_start)

    for name, helptext, handler in (
        ("approve", "approve the cutover of a restore waiting for approval", _approve),
        ("reject", "reject the cutover of a restore waiting for approval", _reject),
        ("rollback", "switch live tables back to what they were before a restore's cutover", _rollback),
    ):
        parser = subparsers.add_parser(name, help=helptext, description=helptext.capitalize() + ".")
        add_stack_arguments(parser)
        parser.add_argument("execution", help="execution name of the restore")
        if name == "reject":
            parser.add_argument("--cause", default="rejected by operator", help="why (kept in the history)")
        parser.set_defaults(run=handler)


def _state_machine(args: argparse.Namespace) -> tuple[Any, str]:
    stack = lookup(args)
    return stack.clients.client("stepfunctions"), stack.output("RestoreStateMachineArn")


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.input:
        try:
            return dict(json.loads(args.input.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise CliError(f"cannot read restore request {args.input}: {exc}") from exc
    request: dict[str, Any] = {"tables": [{"logical": t} for t in args.table], "cutover": args.cutover}
    if args.time:
        request["restore_time"] = args.time
    else:
        request["use_latest"] = True
    return request


def _start(args: argparse.Namespace) -> int:
    sfn, machine = _state_machine(args)
    name = args.name or datetime.now(UTC).strftime("restore-%Y%m%dT%H%M%SZ")
    request = request_from_args(args)
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(request))["executionArn"]
    print(f"started {name}")
    return 0 if args.no_follow else follow(sfn, arn)


def follow(
    sfn: Any,
    arn: str,
    *,
    poll_seconds: float | None = None,
    answered_token: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Print each state as it is entered; stop at the end or when approval is awaited.

    `answered_token`: an approval just answered, which the history may still show as open."""
    seen = 0
    while True:
        events = history(sfn, arn)
        for event in events[seen:]:
            details = event.get("stateEnteredEventDetails")
            if details:
                out(f"  -> {details['name']}")
        seen = len(events)
        status = sfn.describe_execution(executionArn=arn)
        if status["status"] in TERMINAL:
            return _finish(status, out)
        token = approval_token(events)
        if token and token != answered_token:
            name = arn.rsplit(":", 1)[1]
            out(f"waiting for approval: `dynamodb-dr approve {name}` or `dynamodb-dr reject {name}`")
            return 0
        time.sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)


def _finish(status: dict[str, Any], out: Callable[[str], None]) -> int:
    if status["status"] == "SUCCEEDED":
        out(json.dumps(json.loads(status.get("output") or "{}"), indent=2))
        return 0
    out(f"{status['status']}: {status.get('error', '')}: {status.get('cause', '')}".rstrip(": "))
    return 1


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        request["nextToken"] = page["nextToken"]


def approval_token(events: list[dict[str, Any]]) -> str | None:
    """The task token of an approval request that is still open, read from the history."""
    token: str | None = None
    for event in events:
        details = event.get("taskScheduledEventDetails")
        if details:
            payload = json.loads(details.get("parameters") or "{}").get("Payload", {})
            if payload.get("action") == APPROVAL_ACTION:
                token = payload.get("task_token")
        elif token and event["type"] in {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "ExecutionAborted"}:
            token = None
    return token


def _open_approval(args: argparse.Namespace) -> tuple[Any, str, str]:
    sfn, machine = _state_machine(args)
    arn = _execution_arn(machine, args.execution)
    try:
        events = history(sfn, arn)
    except Exception as exc:
        raise CliError(f"execution {args.execution!r} not found ({type(exc).__name__})") from exc
    token = approval_token(events)
    if not token:
        raise CliError(f"execution {args.execution!r} is not waiting for approval")
    return sfn, arn, token


def _approve(args: argparse.Namespace) -> int:
    sfn, arn, token = _open_approval(args)
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    print(f"approved {args.execution}")
    return follow(sfn, arn, answered_token=token)


def _reject(args: argparse.Namespace) -> int:
    sfn, arn, token = _open_approval(args)
    sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause=args.cause)
    print(f"rejected {args.execution}")
    follow(sfn, arn, answered_token=token)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    sfn, machine = _state_machine(args)
    name = f"rollback-{args.execution}"[:80]
    arn = sfn.start_execution(
        stateMachineArn=machine, name=name, input=json.dumps({"rollback": {"execution": args.execution}})
    )["executionArn"]
    print(f"started {name}")
    return follow(sfn, arn)
