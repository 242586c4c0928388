"""Lost Lambda responses for the restore state machine tests: a chosen step runs to completion,
then Step Functions sees a Lambda service error instead of its result and retries the step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dynamodb_dr_local.emulator import Emulator


@contextmanager
def lose_response(emu: Emulator, action: str, times: int = 1) -> Iterator[list[str]]:
    """While active, the first `times` invocations of `action` (a restore or pointer action) do
    their work, then their response is lost. Yields the actions whose response was lost."""
    router = emu.router
    original = router.invoke
    lost: list[str] = []

    def invoke(function: Any, event_json: Any) -> tuple[str, bool, str]:
        payload, errored, logs = original(function, event_json)
        event = json.loads(event_json) if isinstance(event_json, str | bytes) else (event_json or {})
        if isinstance(event, dict) and event.get("action") == action and not errored and len(lost) < times:
            lost.append(action)
            error = {"errorType": "Lambda.ServiceException", "errorMessage": "injected: response lost"}
            return json.dumps(error), True, logs
        return payload, errored, logs

    router.invoke = invoke  # type: ignore[method-assign]
    try:
        yield lost
    finally:
        router.invoke = original  # type: ignore[method-assign]
