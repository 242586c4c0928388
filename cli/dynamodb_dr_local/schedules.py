"""The stack's EventBridge Scheduler schedules, read from its (processed) template.

`dynamodb-dr tick` fires one by hand (on AWS or the emulator) and `dynamodb-dr local` fires them
on their expressions (moto's CloudFormation does not create schedules). Both send exactly the
`Input` the schedule would send, with Scheduler's context attributes filled in.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEDULE_TYPE = "AWS::Scheduler::Schedule"


@dataclass(frozen=True)
class Schedule:
    logical_id: str  # e.g. ExportFunctionFullTick
    function: str  # logical id of the target function, e.g. ExportFunction
    expression: Any  # the template's ScheduleExpression (a string or a Ref)
    timezone: Any
    input: str  # the target's Input template

    @property
    def name(self) -> str:
        """What `tick` calls it: the task (or action) it sends, else its logical id."""
        try:
            payload = json.loads(self.input)
        except ValueError:
            payload = {}
        task = payload.get("task") or payload.get("action") if isinstance(payload, dict) else None
        return str(task) if task else self.logical_id

    @property
    def function_alias(self) -> str:
        """BackupFunction -> backup, CdcFollowerFunction -> cdc-follower."""
        base = self.function.removesuffix("Function")
        return re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower()

    def aliases(self) -> set[str]:
        return {self.name.lower(), self.logical_id.lower(), self.function.lower(), self.function_alias}

    def resolve(self, value: Any, parameters: Mapping[str, str], defaults: Mapping[str, Any]) -> str:
        if isinstance(value, dict) and set(value) == {"Ref"}:
            name = value["Ref"]
            return str(parameters.get(name) or defaults.get(name, {}).get("Default", ""))
        return "" if value is None else str(value)


def schedules_in(template: Mapping[str, Any]) -> list[Schedule]:
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != SCHEDULE_TYPE:
            continue
        props = resource.get("Properties", {})
        target = props.get("Target", {})
        arn = target.get("Arn", {})
        function = arn.get("Fn::GetAtt", [""])[0] if isinstance(arn, dict) else ""
        if isinstance(function, str) and "." in function:
            function = function.split(".", 1)[0]
        found.append(
            Schedule(
                logical_id=logical_id,
                function=str(function),
                expression=props.get("ScheduleExpression"),
                timezone=props.get("ScheduleExpressionTimezone"),
                input=str(target.get("Input", "{}")),
            )
        )
    return sorted(found, key=lambda s: s.logical_id)


def find(schedules: list[Schedule], wanted: str) -> list[Schedule]:
    """The schedules `wanted` names (by task, logical id, function or its short name)."""
    key = wanted.strip().lower()
    exact = [s for s in schedules if s.name.lower() == key or s.logical_id.lower() == key]
    return exact or [s for s in schedules if key in s.aliases()]


def render_input(text: str, when: datetime, *, attempt: int = 1, execution_id: str | None = None) -> str:
    """The payload Scheduler sends: its context attributes replaced as it does."""
    values = {
        "<aws.scheduler.scheduled-time>": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": execution_id or str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text
