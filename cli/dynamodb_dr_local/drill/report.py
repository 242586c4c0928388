"""Plain-text tables and progress lines for the drill's output (progress goes to stderr)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from dynamodb_dr_local.output import table as _table


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return _table(headers, rows, boxed=True)


class Progress:
    """Timestamped step lines, relative to the drill's start, on stderr (stdout is the report)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self._start = time.monotonic()

    def step(self, message: str) -> None:
        elapsed = time.monotonic() - self._start
        print(f"[{elapsed:6.1f}s] {message}", file=self._stream or sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start
