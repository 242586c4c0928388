"""EventBridge Scheduler for the served emulator: fire the stack's schedules on their expressions.

moto's CloudFormation skips `AWS::Scheduler::Schedule`, so nothing would ever run the backups,
exports, posture checks or rehearsals of `dynamodb-dr local`. This runner reads the schedules
from the deployed template (`schedules.py`, shared with `dynamodb-dr tick`), computes each next
fire time from `rate(...)`, `cron(...)` (in the schedule's timezone) or `at(...)`, and invokes the
target function with Scheduler's payload. cron's `L`, `W` and `#` are not evaluated: such a
schedule is reported once and can still be fired with `dynamodb-dr tick`.
"""

from __future__ import annotations

import calendar
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class UnsupportedExpression(ValueError):
    """An expression the local scheduler does not evaluate (fire it with `dynamodb-dr tick`)."""


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None for `*` or `?` (any)."""
    if text in {"*", "?"}:
        return None
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise UnsupportedExpression(f"cron field {text!r}")
        step = int(step_text) if step_text else 1
        if base in {"*", "?"}:
            start, end = low, high
        else:
            first, _, last = base.partition("-")
            start = _value(first, names, text)
            end = _value(last, names, text) if last else (high if step_text else start)
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise UnsupportedExpression(f"cron value out of range in {text!r}")
        values.update(range(start, end + 1, step))
    return values


def _value(token: str, names: dict[str, int] | None, field_text: str) -> int:
    if names and token in names:
        return names[token]
    if not token.isdigit():  # L, W, #, or a typo
        raise UnsupportedExpression(f"cron field {field_text!r}")
    return int(token)


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None  # 1 = Sunday, as in AWS cron
    years: set[int] | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise UnsupportedExpression(f"cron needs 6 fields, got {body!r}")
        return cls(
            _field(parts[0], 0, 59),
            _field(parts[1], 0, 23),
            _field(parts[2], 1, 31),
            _field(parts[3], 1, 12, MONTHS),
            _field(parts[4], 1, 7, DAYS),
            _field(parts[5], 1970, 2199),
        )

    def matches(self, when: datetime) -> bool:
        weekday = (when.weekday() + 1) % 7 + 1  # Monday=0 -> 2, Sunday=6 -> 1
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.minutes, when.minute),
                (self.hours, when.hour),
                (self.days, when.day),
                (self.months, when.month),
                (self.weekdays, weekday),
                (self.years, when.year),
            )
        )

    def next_after(self, after: datetime) -> datetime | None:
        """The first matching minute after `after` (same timezone), within ~4 years."""
        when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + timedelta(days=4 * 366)
        while when < limit:
            day_ok = all(
                allowed is None or value in allowed
                for allowed, value in (
                    (self.days, when.day),
                    (self.months, when.month),
                    (self.weekdays, (when.weekday() + 1) % 7 + 1),
                    (self.years, when.year),
                )
            )
            if not day_ok:
                when = (when + timedelta(days=1)).replace(hour=0, minute=0)
            elif self.hours is not None and when.hour not in self.hours:
                when = (when + timedelta(hours=1)).replace(minute=0)
            elif self.minutes is not None and when.minute not in self.minutes:
                when += timedelta(minutes=1)
            else:
                return when
        return None


def next_fire(expression: str, timezone: str | None, after: datetime, started: datetime) -> datetime | None:
    """When a schedule fires next after `after` (UTC). rate() counts from `started`."""
    text = expression.strip()
    rate = RATE.match(text)
    if rate:
        period = int(rate.group(1)) * UNITS[rate.group(2).rstrip("s")]
        if period <= 0:
            raise UnsupportedExpression(expression)
        elapsed = (after - started).total_seconds()
        return started + timedelta(seconds=period * (int(elapsed // period) + 1))
    zone = ZoneInfo(timezone or "UTC")
    at = AT.match(text)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=zone).astimezone(UTC)
        return when if when > after else None
    if text.startswith("cron(") and text.endswith(")"):
        local = Cron.parse(text[5:-1]).next_after(after.astimezone(zone))
        return local.astimezone(UTC) if local else None
    raise UnsupportedExpression(expression)


@dataclass
class Planned:
    name: str
    expression: str
    timezone: str | None
    fire: Callable[[datetime], None]
    due: datetime | None = None


class ScheduleRunner:
    """A thread that fires each planned schedule when it is due (checked every few seconds)."""

    def __init__(self, planned: list[Planned], *, log: Callable[[str], None]) -> None:
        self._planned = planned
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = datetime.now(UTC)
        for item in planned:
            try:
                item.due = next_fire(item.expression, item.timezone, self._started, self._started)
            except (UnsupportedExpression, ValueError, KeyError) as exc:
                log(
                    f"scheduler: {item.name} ({item.expression}) is not fired locally ({exc}); "
                    f"use `dynamodb-dr tick {item.name}`"
                )

    def upcoming(self) -> list[tuple[str, datetime]]:
        return sorted(((p.name, p.due) for p in self._planned if p.due), key=lambda x: x[1])

    def start(self, check_seconds: float = 5.0) -> None:
        def loop() -> None:
            while not self._stop.wait(check_seconds):
                self.run_due(datetime.now(UTC))

        self._thread = threading.Thread(target=loop, name="schedule-runner", daemon=True)
        self._thread.start()

    def run_due(self, now: datetime) -> list[str]:
        fired = []
        for item in self._planned:
            if item.due is None or item.due > now:
                continue
            scheduled = item.due
            item.due = next_fire(item.expression, item.timezone, now, self._started)
            try:
                item.fire(scheduled)
                fired.append(item.name)
            except Exception as exc:  # one schedule's failure must not stop the others
                self._log(f"scheduler: {item.name} failed: {type(exc).__name__}: {str(exc)[:200]}")
        return fired

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
