"""`dynamodb-dr tick [NAME]`: fire one of the stack's schedules now, as EventBridge Scheduler would.

Same function, same Input (scheduled time = now, or --at), synchronously: on AWS to run a backup or
an export without waiting for its schedule, against `dynamodb-dr local` to move the local account
along. Without NAME it lists the schedules.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from dynamodb_dr_local.commands.cdc_common import parse_time
from dynamodb_dr_local.commands.restore_follow import error_line
from dynamodb_dr_local.errors import EXIT_FAILED, EXIT_OK, CliError
from dynamodb_dr_local.output import Output, key_values, table
from dynamodb_dr_local.schedules import Schedule, find, render_input, schedules_in
from dynamodb_dr_local.stack_lookup import Stack, add_stack_arguments, lookup

SUMMARY_COLUMNS = 6


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tick",
        help="fire one of the stack's schedules now (backup, export-full, posture...); no name lists them",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("name", nargs="?", help="task (backup, export-full...), function or schedule id")
    parser.add_argument(
        "--at", type=parse_time, help="the scheduled time the tick carries (default: now; ISO 8601 or now-1h)"
    )
    add_stack_arguments(parser)
    parser.set_defaults(run=_run)


def stack_schedules(stack: Stack) -> tuple[list[Schedule], dict[str, Any]]:
    body: Any = stack.clients.client("cloudformation").get_template(
        StackName=stack.name, TemplateStage="Processed"
    )["TemplateBody"]
    try:
        template = json.loads(body) if isinstance(body, str) else dict(body)
    except ValueError:  # SAM's processed templates are JSON; anything else is not ours
        raise CliError(f"cannot read the processed template of stack {stack.name}") from None
    found = schedules_in(template)
    if not found:
        raise CliError(f"stack {stack.name} has no schedules in its template")
    return found, template.get("Parameters", {})


def _run(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    stack = lookup(args)
    found, defaults = stack_schedules(stack)
    if not args.name:
        rows = [
            {
                "name": s.name,
                "function": s.function,
                "expression": s.resolve(s.expression, stack.parameters, defaults),
                "timezone": s.resolve(s.timezone, stack.parameters, defaults) or "UTC",
                "schedule": s.logical_id,
            }
            for s in found
        ]
        headers = ("NAME", "FUNCTION", "EXPRESSION", "TIMEZONE", "SCHEDULE")
        out.result(rows, lambda: table(headers, [[r[h.lower()] for h in headers] for r in rows]))
        return EXIT_OK
    matches = find(found, args.name)
    if len(matches) != 1:
        names = ", ".join(s.name for s in (matches or found))
        what = "several schedules" if matches else "no schedule"
        raise CliError(f"{what} match {args.name!r}", hint=f"one of: {names}", name="UnknownSchedule")
    return fire(stack, matches[0], args.at or datetime.now(UTC), out)


def fire(stack: Stack, schedule: Schedule, when: datetime, out: Output) -> int:
    function = physical_id(stack, schedule.function)
    payload = render_input(schedule.input, when)
    out.note(f"tick {schedule.name} ({when:%Y-%m-%d %H:%M:%S} UTC) -> {schedule.function}")
    response = stack.clients.client("lambda").invoke(FunctionName=function, Payload=payload)
    result = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        error = error_line(result.get("errorType"), result.get("errorMessage"))
        out.result({"schedule": schedule.name, "function": function, "error": error}, f"FAILED: {error}")
        return EXIT_FAILED
    out.result({"schedule": schedule.name, "function": function, "result": result}, lambda: summary(result))
    return EXIT_OK


def physical_id(stack: Stack, logical_id: str) -> str:
    paginator = stack.clients.client("cloudformation").get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack.name):
        for resource in page["StackResourceSummaries"]:
            if resource["LogicalResourceId"] == logical_id and resource.get("PhysicalResourceId"):
                return resource["PhysicalResourceId"]
    raise CliError(f"stack {stack.name} has no {logical_id} resource", hint="is the stack up to date?")


def summary(result: Any) -> str:
    """The function's result in a few lines: per-table rows when it reports tables."""
    if not isinstance(result, dict):
        return f"ok: {result}"
    tables = result.get("tables")
    if isinstance(tables, list) and tables and all(isinstance(t, dict) for t in tables):
        columns = [k for k, v in tables[0].items() if not isinstance(v, dict | list)][:SUMMARY_COLUMNS]
        rows = [[_cell(t.get(c)) for c in columns] for t in tables]
        rest = {k: v for k, v in result.items() if k != "tables" and not isinstance(v, dict | list)}
        lines = [table([c.upper() for c in columns], rows)]
        if rest:
            lines.append(key_values(list(rest.items())))
        return "\n".join(lines)
    flat = [(k, _cell(v)) for k, v in result.items()]
    return key_values(flat, indent="") if flat else "ok"


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:60]
    return "-" if value is None else str(value)
