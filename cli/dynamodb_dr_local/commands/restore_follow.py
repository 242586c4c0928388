"""Following a restore execution: each state as it is entered, the approval wait, the report.

Ctrl-C only stops the CLI: the execution goes on in AWS, and the message says how to follow it
and how to stop it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr_local.errors import EXIT_FAILED, EXIT_OK, Interrupted
from dynamodb_dr_local.output import Output, duration, key_values, table
from dynamodb_dr_local.stack_lookup import command_hint

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
POLL_SECONDS = 2.0
APPROVAL_ACTION = "request_approval"
CUTOVER_STATES = frozenset({"Cutover", "Rollback"})  # the states that switch live-table pointers
# The restore-wait loop re-enters these: say it once, then show progress.
LOOP_STATES = frozenset({"CheckRestores", "RestoresActive", "WaitForRestores"})


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def history(sfn: SFNClient, arn: str) -> list[dict[str, Any]]:
    paginator = sfn.get_paginator("get_execution_history")
    return [dict(e) for page in paginator.paginate(executionArn=arn) for e in page["events"]]


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


def states_entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e.get("stateEnteredEventDetails")]


def state_output(events: list[dict[str, Any]], state: str) -> dict[str, Any] | None:
    """The data a state left (its last exit), e.g. ValidateRequest's plan."""
    for event in reversed(events):
        details = event.get("stateExitedEventDetails")
        if details and details.get("name") == state:
            try:
                value = json.loads(details.get("output") or "{}")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def error_line(error: str | None, cause: str | None) -> str:
    """`ErrorName: message`, from Step Functions' error and cause (Lambda's error JSON unwrapped;
    never its stackTrace)."""
    name, message = error or "Error", (cause or "").strip()
    try:
        parsed = json.loads(message) if message.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and ("errorMessage" in parsed or "errorType" in parsed):
        name = str(parsed.get("errorType") or name)
        message = str(parsed.get("errorMessage") or "")
    message = message.splitlines()[0] if message else ""
    return f"{name}: {message}" if message else name


@dataclass
class Follow:
    """What following one execution needs."""

    sfn: SFNClient
    arn: str
    args: argparse.Namespace
    out: Output
    answered_token: str | None = None  # an approval just answered, which the history may still show
    only_new: bool = False  # print only states entered from now on (after an approval)

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[1]


def follow(job: Follow, poll_seconds: float | None = None) -> int:
    """Follow to the end or to an approval wait. Ctrl-C: the execution goes on (exit 130)."""
    try:
        return _follow(job, POLL_SECONDS if poll_seconds is None else poll_seconds)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped following {job.name}; the execution goes on in AWS",
            hint=f"follow it: `{command_hint(job.args, 'follow', job.name)}`; "
            f"stop it: `{command_hint(job.args, 'stop', job.name)}`",
        ) from None


def _follow(job: Follow, poll_seconds: float) -> int:
    seen, entered, started = 0, set[str](), time.monotonic()
    if job.only_new:
        events = history(job.sfn, job.arn)
        seen, entered = len(events), set(states_entered(events))
    while True:
        events = history(job.sfn, job.arn)
        for name in states_entered(events[seen:]):
            elapsed = duration(time.monotonic() - started)
            if name in entered and name in LOOP_STATES:
                job.out.progress(f"  .. {name}: waiting for the restored tables ({elapsed})")
            else:
                job.out.note(f"  -> {name}")
            entered.add(name)
        seen = len(events)
        status = dict(job.sfn.describe_execution(executionArn=job.arn))
        if status["status"] in TERMINAL:
            return finish(job, status, history(job.sfn, job.arn))  # the history up to the end
        token = approval_token(events)
        if token and token != job.answered_token:
            return _waiting_for_approval(job)
        time.sleep(poll_seconds)


def _waiting_for_approval(job: Follow) -> int:
    approve = command_hint(job.args, "approve", job.name)
    reject = command_hint(job.args, "reject", job.name, "--cause", "why")
    job.out.result(
        {"execution": job.name, "status": "WAITING_FOR_APPROVAL", "approve": approve, "reject": reject},
        f"waiting for approval: `{approve}` or `{reject}`",
    )
    return EXIT_OK


def finish(job: Follow, status: dict[str, Any], events: list[dict[str, Any]]) -> int:
    output = json.loads(status.get("output") or "{}") if status["status"] == "SUCCEEDED" else {}
    seconds = _seconds(status)
    if status["status"] == "SUCCEEDED":
        job.out.result(output, lambda: render_report(job, output, seconds))
        return EXIT_OK
    error = error_line(status.get("error"), status.get("cause"))
    failure = (state_output(events, "HandleFailure") or {}).get("failure") or {}
    result = {
        "execution": job.name,
        "status": status["status"],
        "error": error,
        "cleanup": failure.get("cleanup", []),
        "cutover_reached": bool(CUTOVER_STATES & set(states_entered(events))),
    }
    job.out.result(result, lambda: render_failure(job, result, seconds))
    return EXIT_FAILED


def _seconds(status: dict[str, Any]) -> float | None:
    start, stop = status.get("startDate"), status.get("stopDate")
    if isinstance(start, datetime) and isinstance(stop, datetime):
        return (stop - start).total_seconds()
    return None


def render_failure(job: Follow, result: dict[str, Any], seconds: float | None) -> str:
    lines = [f"{job.name} {result['status']} after {duration(seconds)}: {result['error']}"]
    for entry in result["cleanup"]:
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        lines.append(f"  clean-up: {entry.get('table')} {entry.get('action')}{reason}")
    if result["cutover_reached"]:
        lines.append(f"  the cutover step was reached: check `{command_hint(job.args, 'restores')}`")
    else:
        lines.append("  source tables and live-table pointers were not changed")
    return "\n".join(lines)


def render_report(job: Follow, report: dict[str, Any], seconds: float | None) -> str:
    if report.get("mode") == "rollback":
        pointers = (report.get("rollback") or {}).get("pointers", [])
        lines = [f"{job.name} SUCCEEDED: rolled back {report.get('rollback_of')}"]
        lines += [f"  {p.get('logical')}: {p.get('new')} -> {p.get('previous')}" for p in pointers]
        return "\n".join(lines)
    cutover = report.get("cutover") or {}
    switched = cutover.get("status") in {"switched", "already-switched"}
    rpo = report.get("rpo_achieved_seconds")
    point = f"{report.get('restore_point')} ({duration(rpo)} before the restore started)"
    lines = [
        f"{job.name} SUCCEEDED in {duration(seconds)}",
        key_values(
            [
                ("restore point", point),
                ("not restored", "writes after the restore point (in the CDC archive: `dynamodb-dr replay`)"),
                ("cutover", f"{cutover.get('status', 'not-switched')} ({report.get('cutover_mode')})"),
                ("catch-up", (report.get("catch_up") or {}).get("status", "off")),
            ]
        ),
        "",
        table(
            ("TABLE", "SOURCE", "RESTORED", "ITEMS", "CHECKSUM"),
            [
                (t["logical"], t["source"], t["restored"], t.get("item_count"), t.get("checksum"))
                for t in report.get("tables", [])
            ],
        ),
    ]
    for t in report.get("tables", []):
        for setting in t.get("settings_not_reapplied", []):
            detail = str(setting.get("detail") or "").splitlines()[0][:120] if setting.get("detail") else ""
            lines.append(f"  ! {t['logical']}: {setting.get('setting')} {setting.get('status')}: {detail}")
    if switched:
        lines.append(f"undo the cutover: `{command_hint(job.args, 'rollback', job.name)}`")
    return "\n".join(lines)
