"""Check a restore request before any execution starts, the way ValidateRequest will.

Same pydantic model (`dynamodb_dr.restore.models.RestoreRequest`), same protected tables and live
tables (core's TableRegistry), same restorable windows (`RestoreTables.restorable_window` of each
live table). A request that would fail is refused here in one line, with the window, exit 2: on
AWS a failed execution pages whoever watches the RestoreFailed alarm.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dynamodb_dr.core.errors import TableNotFound
from dynamodb_dr.restore.models import RestoreRequest
from dynamodb_dr.restore.tables import RestoreTables
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.stack_lookup import Stack

INVALID = "RestoreRequestInvalid"


@dataclass(frozen=True)
class Window:
    logical: str
    live_table: str
    earliest: datetime | None  # None: PITR is off
    latest: datetime | None

    def text(self) -> str:
        if self.earliest is None or self.latest is None:
            return f"{self.logical} (live table {self.live_table}): PITR off, nothing restorable"
        return (
            f"restorable window of {self.logical} (live table {self.live_table}): "
            f"{_iso(self.earliest)} to {_iso(self.latest)}"
        )


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def windows(stack: Stack, logicals: list[str]) -> dict[str, Window]:
    tables = RestoreTables(stack.clients.client("dynamodb"))
    found: dict[str, Window] = {}
    for logical in logicals:
        if logical in stack.protected_tables and logical not in found:
            live = stack.live_table(logical)
            try:
                bounds = tables.restorable_window(live)
            except TableNotFound:
                raise CliError(
                    f"the live table of {logical}, {live}, does not exist",
                    hint="a deleted table is rebuilt with `dynamodb-dr restore-from-s3`",
                    name="TableNotFound",
                ) from None
            earliest, latest = bounds if bounds else (None, None)
            found[logical] = Window(logical, live, earliest, latest)
    return found


def check_request(stack: Stack, raw: Any) -> RestoreRequest:
    """The validated request, or a CliError naming what is wrong (and the windows)."""
    if not isinstance(raw, dict):
        raise CliError("a restore request is a JSON object", name=INVALID)
    named = [t.get("logical") for t in raw.get("tables") or [] if isinstance(t, dict)]
    found = windows(stack, [n for n in named if isinstance(n, str)])
    window_hint = "; ".join(w.text() for w in found.values()) or None
    try:
        request = RestoreRequest.model_validate(raw)
    except ValidationError as exc:
        raise CliError(describe(exc), hint=window_hint, name=INVALID) from None
    if request.rollback is not None:
        return request
    for entry in request.tables:
        if entry.logical not in stack.protected_tables:
            close = difflib.get_close_matches(entry.logical, stack.protected_tables, n=1)
            suggestion = f"did you mean {close[0]!r}? " if close else ""
            raise CliError(
                f"table {entry.logical!r} is not protected by stack {stack.name}",
                hint=f"{suggestion}protected: {', '.join(stack.protected_tables)}",
                name="TableNotProtected",
            )
        window = found[entry.logical]
        if window.earliest is None or window.latest is None:
            raise CliError(
                f"point-in-time recovery is off on {window.live_table} (live table of {entry.logical})",
                hint="the backup schedule turns it back on (`dynamodb-dr tick backup`, EnforcePitr=true)",
                name=INVALID,
            )
        when = request.restore_time
        if when is not None and not window.earliest <= when <= window.latest:
            raise CliError(
                f"restore time {_iso(when)} is outside the restorable window",
                hint=window.text() + " (PITR's latest restorable time trails the clock by ~5 minutes)",
                name=INVALID,
            )
        if entry.target and RestoreTables(stack.clients.client("dynamodb")).exists(entry.target):
            raise CliError(f"target table {entry.target} already exists", hint=window_hint, name=INVALID)
    return request


def describe(exc: ValidationError) -> str:
    """One line per problem, in operator words."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            known = _known_fields(error["loc"])
            close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
            problems.append(f"unknown field {where!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        elif error["type"] == "timezone_aware":
            problems.append(f"{where} {error.get('input')!r} has no timezone: add Z for UTC or an offset")
        else:
            problems.append(f"{where + ': ' if where else ''}{error['msg']}")
    return "invalid restore request: " + "; ".join(problems)


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = RestoreRequest
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        args = getattr(annotation, "__args__", ())
        nested = next((a for a in (annotation, *args) if hasattr(a, "model_fields")), None)
        if nested is not None:
            model = nested
    return list(model.model_fields)
