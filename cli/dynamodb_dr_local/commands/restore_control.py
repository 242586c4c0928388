"""Answer, undo, stop and list restores: `approve`, `reject`, `rollback`, `stop`, `restores`.

`stop` is safe by construction: before the cutover step it ends the execution and applies the
request's clean-up policy (`on_failure`: keep and tag, or delete, only tables this execution
created that no pointer names: the restore function's own failure path does it, with its role);
once a cutover step was entered it refuses and points to `rollback`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr_local.commands.restore_follow import (
    CUTOVER_STATES,
    TERMINAL,
    Follow,
    approval_token,
    error_line,
    execution_arn,
    follow,
    history,
    state_output,
    states_entered,
)
from dynamodb_dr_local.errors import EXIT_FAILED, EXIT_OK, CliError, OperationFailed
from dynamodb_dr_local.output import Output, duration, table
from dynamodb_dr_local.stack_lookup import Stack, add_stack_arguments, command_hint, lookup

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

STOPPED_ERROR = "RestoreStopped"


def register(subparsers: Any) -> None:
    for name, helptext, handler in (
        ("approve", "approve the cutover of a restore waiting for approval", _approve),
        ("reject", "reject the cutover of a restore waiting for approval (nothing is switched)", _reject),
        ("rollback", "switch live tables back to what they were before a restore's cutover", _rollback),
        ("stop", "stop a restore before its cutover and clean up its tables per on_failure", _stop),
    ):
        description = helptext[0].upper() + helptext[1:] + "."
        parser = subparsers.add_parser(name, help=helptext, description=description)
        parser.add_argument("execution", help="execution name of the restore (see `dynamodb-dr restores`)")
        if name in {"reject", "stop"}:
            default = "rejected by operator" if name == "reject" else "stopped by operator"
            why = f"why (kept in the history; default: {default})"
            parser.add_argument("--cause", default=default, help=why)
        add_stack_arguments(parser)
        parser.set_defaults(run=handler)
    listing = subparsers.add_parser(
        "restores", help="recent restores, rollbacks and rehearsals, newest first"
    )
    listing.add_argument("--limit", type=_limit, default=10, help="how many (default 10, at most 100)")
    add_stack_arguments(listing)
    listing.set_defaults(run=_list)


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return value


def _machine(args: argparse.Namespace) -> tuple[Stack, SFNClient, str]:
    stack = lookup(args)
    return stack, stack.clients.client("stepfunctions"), stack.output("RestoreStateMachineArn")


def require_execution(sfn: SFNClient, arn: str, args: argparse.Namespace) -> dict[str, Any]:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except sfn.exceptions.ExecutionDoesNotExist:
        name = arn.rsplit(":", 1)[1]
        raise CliError(
            f"no execution named {name!r} on the restore state machine",
            hint=f"list recent restores: `{command_hint(args, 'restores')}`",
            name="ExecutionDoesNotExist",
        ) from None


def _open_approval(args: argparse.Namespace) -> tuple[SFNClient, str, str]:
    _, sfn, machine = _machine(args)
    arn = execution_arn(machine, args.execution)
    status = require_execution(sfn, arn, args)
    events = history(sfn, arn)
    token = approval_token(events) if status["status"] == "RUNNING" else None
    if not token:
        entered = states_entered(events)
        where = f" in {entered[-1]}" if status["status"] == "RUNNING" and entered else ""
        raise CliError(
            f"execution {args.execution!r} is not waiting for approval (it is {status['status']}{where})",
            hint=f"follow it: `{command_hint(args, 'follow', args.execution)}`",
        )
    return sfn, arn, token


def _approve(args: argparse.Namespace) -> int:
    sfn, arn, token = _open_approval(args)
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    out = Output(json_mode=args.json)
    out.note(f"approved {args.execution}: cutting over")
    return follow(Follow(sfn, arn, args, out, answered_token=token, only_new=True))


def _reject(args: argparse.Namespace) -> int:
    sfn, arn, token = _open_approval(args)
    sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause=args.cause)
    out = Output(json_mode=args.json)
    out.note(f"rejected {args.execution}: nothing is switched")
    follow(Follow(sfn, arn, args, out, answered_token=token, only_new=True))
    return EXIT_OK  # the execution fails by design: the rejection itself succeeded


def rollback_name(execution: str, now: datetime | None = None) -> str:
    """Unique per attempt, so a failed rollback can be retried (names are never reused)."""
    stamp = f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    return f"rollback-{execution[: 80 - len('rollback--') - len(stamp)]}-{stamp}"


def _rollback(args: argparse.Namespace) -> int:
    _, sfn, machine = _machine(args)
    target = execution_arn(machine, args.execution)
    status = require_execution(sfn, target, args)
    if status["status"] != "SUCCEEDED":
        raise CliError(
            f"restore {args.execution!r} is {status['status']}: it switched nothing, so there is nothing to "
            "roll back",
            hint="a running restore is ended with `dynamodb-dr stop` or `reject`",
        )
    output = json.loads(status.get("output") or "{}")
    if (output.get("cutover") or {}).get("status") not in {"switched", "already-switched"}:
        raise CliError(f"restore {args.execution!r} did not cut over: nothing to roll back")
    name = rollback_name(args.execution)
    arn = sfn.start_execution(
        stateMachineArn=machine, name=name, input=json.dumps({"rollback": {"execution": args.execution}})
    )["executionArn"]
    out = Output(json_mode=args.json)
    out.note(f"started {name}: rollback of {args.execution}")
    return follow(Follow(sfn, arn, args, out))


def _stop(args: argparse.Namespace) -> int:
    stack, sfn, machine = _machine(args)
    arn = execution_arn(machine, args.execution)
    status = require_execution(sfn, arn, args)
    events = history(sfn, arn)
    out = Output(json_mode=args.json)
    switching = CUTOVER_STATES & set(states_entered(events))
    if switching:
        raise CliError(
            f"{args.execution!r} has entered {sorted(switching)[0]}: stopping now could leave live-table "
            "pointers half-switched",
            hint=f"let it end, then undo it: `{command_hint(args, 'rollback', args.execution)}`",
            name="StopRefused",
        )
    if status["status"] == "RUNNING":
        sfn.stop_execution(executionArn=arn, error=STOPPED_ERROR, cause=args.cause[:32768])
        _wait_stopped(sfn, arn)
        events = history(sfn, arn)
        if CUTOVER_STATES & set(states_entered(events)):  # it got there between our check and the stop
            raise OperationFailed(
                f"{args.execution!r} reached its cutover step before it stopped",
                hint=f"check the pointers: `{command_hint(args, 'status')}`; undo with rollback",
            )
    elif status["status"] != "ABORTED":
        raise CliError(
            f"{args.execution!r} already ended ({status['status']}): nothing to stop",
            hint="a failed restore already applied its clean-up policy",
        )
    cleanup = _clean_up(stack, events, args.cause)
    in_flight = task_in_flight(events)
    if in_flight == "StartRestores":
        out.note(
            "StartRestores was still running when the restore stopped: a table it creates after this "
            f"clean-up stays; run `{command_hint(args, 'stop', args.execution)}` again in a few minutes"
        )
    result = {"execution": args.execution, "status": "ABORTED", "cleanup": cleanup}
    lines = [f"stopped {args.execution} before its cutover; live-table pointers untouched"]
    for entry in cleanup:
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        lines.append(f"  clean-up: {entry.get('table')} {entry.get('action')}{reason}")
    if not cleanup:
        lines.append("  clean-up: nothing to do (no table was planned yet)")
    out.result(result, "\n".join(lines))
    failed = [c for c in cleanup if c.get("action") == "error"]
    if failed:
        retry = command_hint(args, "stop", args.execution)
        out.note(f"some clean-up failed; run `{retry}` again to retry it")
    return EXIT_FAILED if failed else EXIT_OK


def _wait_stopped(sfn: SFNClient, arn: str, timeout: float = 30.0) -> None:
    """AWS ends a stopped execution at once; some engines only at the next state boundary."""
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)


def task_in_flight(events: list[dict[str, Any]]) -> str | None:
    """The state whose Lambda call was scheduled and never answered (it may still run)."""
    state, open_task = None, None
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            state = entered["name"]
        elif event["type"] == "TaskScheduled":
            open_task = state
        elif event["type"] in {"TaskSucceeded", "TaskFailed", "TaskTimedOut"}:
            open_task = None
    return open_task


def _clean_up(stack: Stack, events: list[dict[str, Any]], cause: str) -> list[dict[str, Any]]:
    """The restore function's failure path (`action: fail`), with the plan ValidateRequest made:
    it notifies and applies on_failure to this execution's own tables, with the function's role."""
    plan = (state_output(events, "ValidateRequest") or {}).get("plan")
    if not isinstance(plan, dict):
        return []
    payload = {"action": "fail", "state": {"plan": plan, "error": {"Error": STOPPED_ERROR, "Cause": cause}}}
    response = stack.clients.client("lambda").invoke(
        FunctionName=stack.output("RestoreFunctionName"), Payload=json.dumps(payload)
    )
    result = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise OperationFailed(
            f"the clean-up failed: {error_line(result.get('errorType'), result.get('errorMessage'))}"
        )
    return list(result.get("cleanup", []))


def _list(args: argparse.Namespace) -> int:
    _, sfn, machine = _machine(args)
    listed = sfn.list_executions(stateMachineArn=machine, maxResults=args.limit)["executions"]
    rows = [_summary(sfn, dict(execution)) for execution in listed]
    headers = ("NAME", "KIND", "STATUS", "STARTED (UTC)", "TOOK", "TABLES", "DETAIL")
    Output(json_mode=args.json).result(
        rows,
        lambda: (
            table(headers, [[r[k.lower().split(" ")[0]] for k in headers] for r in rows])
            if rows
            else "no restores yet"
        ),
    )
    return EXIT_OK


def _summary(sfn: SFNClient, execution: dict[str, Any]) -> dict[str, Any]:
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    request = json.loads(described.get("input") or "{}")
    status: str = described["status"]
    kind = "rollback" if request.get("rollback") else "restore"
    if kind == "restore" and "rehearsal" in execution["name"]:
        kind = "rehearsal"
    detail = ""
    if status == "RUNNING" and approval_token(history(sfn, execution["executionArn"])):
        status = "WAITING_APPROVAL"
    if status in TERMINAL - {"SUCCEEDED"}:
        detail = error_line(described.get("error"), described.get("cause"))
    elif kind == "rollback":
        detail = f"of {request['rollback'].get('execution')}"
    elif status == "SUCCEEDED":
        cutover = (json.loads(described.get("output") or "{}").get("cutover") or {}).get("status")
        detail = f"cutover {cutover}" if cutover else ""
    if kind != "rollback":
        point = request.get("restore_time") or ("latest" if request.get("use_latest") else "")
        detail = f"to {point}; {detail}".rstrip("; ") if point else detail
    start, stop = described.get("startDate"), described.get("stopDate")
    took = None
    if isinstance(start, datetime) and isinstance(stop, datetime):
        took = (stop - start).total_seconds()
    return {
        "name": execution["name"],
        "kind": kind,
        "status": status,
        "started": start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(start, datetime) else "",
        "took": duration(took) if took is not None else "running",
        "tables": ",".join(t.get("logical", "?") for t in request.get("tables") or [] if isinstance(t, dict)),
        "detail": detail[:100],
    }
