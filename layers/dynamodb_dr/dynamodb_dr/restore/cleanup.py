"""Clean-up of the tables restores leave behind: the old tables after cutovers and the restored
tables kept after failed runs (on_failure keep) stay until this clean-up deletes them.

Retention: a `<logical>-dr-*` table is deleted only when it is older than the retention, its tags
name the restore execution that created it (it is the tool's), no live-table pointer and no pointer
record names it, a switched cutover would not need it for a rollback, and it is not still being
created. Everything else is kept and said why. Deleting one disposes of its alarm copies and
scalable targets too (disposal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import TableNotFound
from dynamodb_dr.restore.cutover import SWITCHED, CutoverLedger
from dynamodb_dr.restore.disposal import Disposal
from dynamodb_dr.restore.pointers import PointerRecords, Pointers
from dynamodb_dr.restore.tables import TAG_EXECUTION, RestoreTables

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

DEFAULT_RETENTION = timedelta(days=14)


@dataclass(frozen=True)
class Leftover:
    table: str
    logical: str
    created: str | None
    action: str  # delete | keep | deleted
    reason: str


def leftovers(
    settings: Settings,
    dynamodb: DynamoDBClient,
    *,
    pointers: Pointers,
    records: PointerRecords,
    ledger: CutoverLedger,
    now: datetime,
    retention: timedelta = DEFAULT_RETENTION,
) -> list[Leftover]:
    """Every `<logical>-dr-*` table of the protected tables, with what the clean-up would do."""
    tables = RestoreTables(dynamodb)
    pointed = {
        value
        for logical in settings.protected_tables
        for value in (pointers.get(settings.live_table_parameter(logical)), _recorded(records, logical))
        if value
    }
    needed = {c.previous for r in ledger.all() if r.status == SWITCHED for c in r.changes}
    found = []
    with aws_errors():
        names = [
            n for page in dynamodb.get_paginator("list_tables").paginate() for n in page.get("TableNames", [])
        ]
    for name in sorted(names):
        logical = next((t for t in settings.protected_tables if name.startswith(f"{t}-dr-")), None)
        if logical is None:
            continue
        try:
            found.append(
                _judge(
                    name,
                    logical,
                    tables,
                    keep_for=pointed | needed,
                    needed=needed,
                    now=now,
                    retention=retention,
                )
            )
        except TableNotFound:
            continue  # deleted meanwhile
    return found


def _judge(
    name: str,
    logical: str,
    tables: RestoreTables,
    *,
    keep_for: set[str],
    needed: set[str],
    now: datetime,
    retention: timedelta,
) -> Leftover:
    description = tables.describe(name)
    created = description.get("CreationDateTime")
    stamp = created.isoformat() if isinstance(created, datetime) else None

    def keep(reason: str) -> Leftover:
        return Leftover(name, logical, stamp, "keep", reason)

    if name in needed:
        return keep("a switched cutover's rollback would need it")
    if name in keep_for:
        return keep("a live-table pointer (or its record) names it")
    if not tables.tags(name).get(TAG_EXECUTION):
        return keep("not the tool's (no restore-execution tag)")
    if description.get("TableStatus") != "ACTIVE":
        return keep(f"it is {description.get('TableStatus')}")
    if not isinstance(created, datetime) or now - created < retention:
        return keep(f"within the retention of {retention.days} days")
    return Leftover(name, logical, stamp, "delete", f"older than {retention.days} days")


def _recorded(records: PointerRecords, logical: str) -> str | None:
    record = records.get(logical)
    return record.value if record else None


def clean_up(found: list[Leftover], disposal: Disposal, *, apply: bool) -> list[Leftover]:
    """Delete (with `apply`) what `leftovers` marked for deletion; a dry run changes nothing."""
    if not apply:
        return found
    done = []
    for item in found:
        if item.action == "delete":
            disposal.dispose(item.table)
            done.append(Leftover(item.table, item.logical, item.created, "deleted", item.reason))
        else:
            done.append(item)
    return done
