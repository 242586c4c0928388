"""How every command writes: results on stdout (tables and short lines, or JSON with `--json`),
progress on stderr (updated in place only on a terminal: no carriage returns in logs or pipes)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, boxed: bool = False) -> str:
    """A plain-text table; `boxed` draws borders (the drill's stage tables)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if not boxed:
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
        )
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(row: Sequence[str]) -> str:
        return "|" + "|".join(f" {c:<{w}} " for c, w in zip(row, widths, strict=True)) + "|"

    return "\n".join([line, fmt(cells[0]), line, *(fmt(row) for row in cells[1:]), line])


def key_values(pairs: Sequence[tuple[str, Any]], indent: str = "  ") -> str:
    """Aligned `key  value` lines (a report's fields)."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{indent}{k:<{width}}  {'-' if v is None else v}" for k, v in pairs)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def duration(seconds: float | None) -> str:
    """`42s`, `3.5m`, `2.0h`, `1.5d`; `-` when unknown."""
    if seconds is None:
        return "-"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f}{unit}"
    return f"{sign}{seconds:.0f}s" if seconds >= 10 else f"{sign}{seconds:.1f}s"


@dataclass
class Output:
    """One per command run. `json_mode`: stdout carries exactly one JSON document (or JSON lines)."""

    json_mode: bool = False
    stdout: TextIO | None = None
    stderr: TextIO | None = None
    _progress_open: bool = field(default=False, repr=False)
    _last_progress: float = field(default=0.0, repr=False)

    @property
    def out(self) -> TextIO:
        return self.stdout or sys.stdout

    @property
    def err(self) -> TextIO:
        return self.stderr or sys.stderr

    def line(self, text: str = "") -> None:
        """Human output (suppressed in JSON mode, where `result` carries everything)."""
        if not self.json_mode:
            self._end_progress()
            print(text, file=self.out, flush=True)

    def result(self, data: Any, human: str | Callable[[], str] | None = None) -> None:
        """The command's result: JSON in JSON mode, else `human` (text or a renderer)."""
        self._end_progress()
        if self.json_mode:
            print(json.dumps(data, indent=2, default=to_jsonable), file=self.out, flush=True)
        elif human is not None:
            print(human() if callable(human) else human, file=self.out, flush=True)

    def json_line(self, data: Any) -> None:
        print(json.dumps(data, default=to_jsonable), file=self.out, flush=True)

    def note(self, text: str) -> None:
        """Something the operator should know that is not the result: always stderr."""
        self._end_progress()
        print(text, file=self.err, flush=True)

    def progress(self, text: str, *, every_seconds: float = 2.0, final: bool = False) -> None:
        """A progress update on stderr. On a terminal it rewrites one line; elsewhere it prints a
        line at most every `every_seconds` (and always when `final`)."""
        stream = self.err
        if _is_tty(stream):
            print(f"\r\x1b[K{text}", end="" if not final else "\n", file=stream, flush=True)
            self._progress_open = not final
            return
        now = time.monotonic()
        if final or now - self._last_progress >= every_seconds:
            self._last_progress = now
            print(text, file=stream, flush=True)

    def _end_progress(self) -> None:
        if self._progress_open:
            print(file=self.err, flush=True)
            self._progress_open = False


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
