"""Plain-text tables and progress lines for the drill's output."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, _row(cells[0], widths), line]
    out += [_row(row, widths) for row in cells[1:]]
    out.append(line)
    return "\n".join(out)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "|" + "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "|"


class Progress:
    """Timestamped step lines, relative to the drill's start."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stdout
        self._start = time.monotonic()

    def step(self, message: str) -> None:
        elapsed = time.monotonic() - self._start
        print(f"[{elapsed:6.1f}s] {message}", file=self._stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start
