"""What AWS runs on its own and moto does not, for `dynamodb-dr local`: the stream pollers of
event source mappings (stream_mappings.py) and EventBridge Scheduler (scheduler.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr_local.emulator.scheduler import Planned, ScheduleRunner
from dynamodb_dr_local.emulator.stream_mappings import StreamMappingPoller, deferred_delivery
from dynamodb_dr_local.schedules import Schedule, render_input, schedules_in

if TYPE_CHECKING:
    from dynamodb_dr_local.emulator.core import Emulator
    from dynamodb_dr_local.emulator.stack import DeployedStack

# Fired once at start, as AWS runs them within minutes of a deploy: every protected table gets its
# live-table pointer and its stream mapping (so writes are archived from the first minute).
STARTUP = ("publish", "follow-streams")


class LocalServices:
    def __init__(
        self,
        emu: Emulator,
        stack: DeployedStack,
        *,
        log: Callable[[str], None],
        schedules: bool = True,
        background: bool = True,
    ) -> None:
        """`background=False`: no threads; tests drive `poller.poll_once()` and `runner.run_due()`."""
        self._emu = emu
        self._stack = stack
        self._log = log
        self._schedules = schedules
        self._background = background
        self._exit = ExitStack()
        self.poller = StreamMappingPoller(emu.clients, log=log)
        self.runner: ScheduleRunner | None = None

    def planned(self) -> list[Planned]:
        template = self._stack.template.cloudformation
        defaults = template.get("Parameters", {})
        return [
            Planned(
                name=s.name,
                expression=s.resolve(s.expression, self._stack.parameters, defaults),
                timezone=s.resolve(s.timezone, self._stack.parameters, defaults) or None,
                fire=self._firing(s),
            )
            for s in schedules_in(template)
        ]

    def _firing(self, schedule: Schedule) -> Callable[[datetime], None]:
        def fire(when: datetime) -> None:
            response = self._emu.clients.client("lambda").invoke(
                FunctionName=self._stack.physical(schedule.function),
                Payload=render_input(schedule.input, when),
            )
            payload: Any = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                error = payload.get("errorType") if isinstance(payload, dict) else payload
                self._log(f"schedule {schedule.name}: FAILED ({error})")
            else:
                self._log(f"schedule {schedule.name}: done")

        return fire

    def __enter__(self) -> LocalServices:
        self._exit.enter_context(deferred_delivery())
        planned = self.planned()
        by_name = {p.name: p for p in planned}
        for name in STARTUP:
            if name in by_name:
                by_name[name].fire(datetime.now().astimezone())
        if self._background:
            self.poller.start()
            self._exit.callback(self.poller.stop)
        if self._schedules:
            self.runner = ScheduleRunner(planned, log=self._log)
            if self._background:
                self.runner.start()
                self._exit.callback(self.runner.stop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()
