"""Point-in-time recovery for the emulator: item history, a moving restorable window, real restores.

moto's `restore_table_to_point_in_time` copies the source's current items whatever time is asked,
and its restorable window is frozen at the moment PITR was enabled. These hooks keep, per table,
the before-image of every write with its time, rewind a restored copy to RestoreDateTime, honour
the restore overrides (billing mode, SSE), and make the window move like AWS's:
earliest = max(PITR enabled at, now - recovery period), latest = now - `latest_lag_seconds`.
`clock_offset_seconds` moves this window's "now" ahead, to simulate time passing (the drill's
on-call response) without waiting for it.

`PitrControl` also lets tests make restores slow (tables stay CREATING for some describes).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

AWS_LATEST_LAG_SECONDS = 300.0  # AWS: LatestRestorableDateTime is about 5 minutes behind now
HISTORY_ATTR = "_dr_pitr_history"  # list[(timestamp, hash_key, range_key, before_item_or_None)]
ENABLED_ATTR = "_dr_pitr_enabled_at"
CREATING_ATTR = "_dr_creating_describes"


@dataclass
class PitrControl:
    """Knobs tests may turn. `creating_describes` < 0 keeps restored tables CREATING forever."""

    latest_lag_seconds: float = 0.0
    clock_offset_seconds: float = 0.0
    creating_describes: int = 0
    restores: list[dict[str, Any]] = field(default_factory=list)


CONTROL = PitrControl()


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    raise TypeError(f"unsupported time {value!r}")


def _record(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    table.__dict__.setdefault(HISTORY_ATTR, []).append((time.time(), hash_key, range_key, before))


def _keys(table: Any, attrs: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr not in attrs:
        return None
    range_key = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attrs:
            return None
        range_key = DynamoType(attrs[table.range_key_attr])
    return DynamoType(attrs[table.hash_key_attr]), range_key


def copy_on_write(table: Any, keys: tuple[Any, Any]) -> Any:
    """Before moto updates an item in place, give the table its own copy of it: the object it
    held (returned) may be shared with the history and with backups, which must not change."""
    current = table.get_item(*keys)
    if current is not None:
        hash_key, range_key = keys
        if range_key is None:
            table.items[hash_key] = copy.deepcopy(current)
        else:
            table.items[hash_key][range_key] = copy.deepcopy(current)
    return current


def rewind_items(table: Any, items: Any, until: float) -> Any:
    """`items` (a copy of `table.items`) as they were at `until`: undo every later write."""
    history = table.__dict__.get(HISTORY_ATTR, [])
    for stamp, hash_key, range_key, before in reversed(history):
        if stamp <= until:
            break
        if range_key is None:
            if before is None:
                items.pop(hash_key, None)
            else:
                items[hash_key] = copy.deepcopy(before)
        elif before is None:
            items.get(hash_key, {}).pop(range_key, None)
        else:
            items.setdefault(hash_key, {})[range_key] = copy.deepcopy(before)
    return items


def window(table: Any, now: float | None = None) -> tuple[float, float] | None:
    """(earliest, latest) restorable epoch seconds, or None when PITR is off."""
    description = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
    if description.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    real_now = time.time()
    now = real_now + CONTROL.clock_offset_seconds if now is None else now
    enabled_at = table.__dict__.get(ENABLED_ATTR, _epoch(description["EarliestRestorableDateTime"]))
    period_days = float(description.get("RecoveryPeriodInDays", 35))
    latest = max(enabled_at, min(real_now, now - CONTROL.latest_lag_seconds))  # never past the data
    return max(enabled_at, now - period_days * 86400), latest


class PitrHooks:
    """Installs the hooks through the emulator's `Patches._set` (so uninstall restores moto)."""

    def __init__(self, set_attr: Any) -> None:
        self._set = set_attr

    def install(self) -> None:
        CONTROL.latest_lag_seconds, CONTROL.creating_describes, CONTROL.clock_offset_seconds = 0.0, 0, 0.0
        CONTROL.restores.clear()
        self._install_history()
        self._install_window_and_restore()

    def _install_history(self) -> None:
        """Record the before-image of every item write (put, update, delete, batch, transaction)."""
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        orig_put, orig_delete = Table.put_item, Table.delete_item
        orig_update_item = DynamoDBBackend.update_item

        # A put or delete replaces the item object and never changes it again: the history keeps
        # it as it is. An update changes the object in place, so the table gets its own copy first.
        def put_item(table: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            keys = _keys(table, item_attrs)
            before = table.get_item(*keys) if keys else None
            result = orig_put(table, item_attrs, *args, **kwargs)
            if keys:
                _record(table, keys[0], keys[1], before)
            return result

        def delete_item(table: Any, hash_key: Any, range_key: Any) -> Any:
            result = orig_delete(table, hash_key, range_key)
            if result is not None:
                _record(table, hash_key, range_key, result)
            return result

        def update_item(backend: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            table = backend.get_table(table_name)
            keys = _keys(table, key)
            before = copy_on_write(table, keys) if keys else None
            result = orig_update_item(backend, table_name, key, *args, **kwargs)
            if keys:
                _record(table, keys[0], keys[1], before)
            return result

        self._set(Table, "put_item", put_item)
        self._set(Table, "delete_item", delete_item)
        self._set(DynamoDBBackend, "update_item", update_item)

    def _install_window_and_restore(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.responses import DynamoHandler

        orig_describe = Table.describe
        orig_update_cb = DynamoDBBackend.update_continuous_backups
        orig_describe_cb = DynamoDBBackend.describe_continuous_backups

        def describe(table: Any, base_key: str = "TableDescription") -> dict[str, Any]:
            result: dict[str, Any] = orig_describe(table, base_key=base_key)
            pending = table.__dict__.get(CREATING_ATTR, 0)
            if pending and base_key == "Table":
                result[base_key]["TableStatus"] = "CREATING"
                if pending > 0:
                    table.__dict__[CREATING_ATTR] = pending - 1
            return result

        def update_continuous_backups(backend: Any, table_name: str, spec: dict[str, Any]) -> Any:
            was_on = window(backend.get_table(table_name)) is not None
            result = orig_update_cb(backend, table_name, spec)
            table = backend.get_table(table_name)
            if spec.get("PointInTimeRecoveryEnabled") and not was_on:
                table.__dict__[ENABLED_ATTR] = time.time()
            return result

        def describe_continuous_backups(backend: Any, table_name: str) -> Any:
            result = orig_describe_cb(backend, table_name)
            bounds = window(backend.get_table(table_name))
            if bounds:
                description = result["PointInTimeRecoveryDescription"]
                description["EarliestRestorableDateTime"], description["LatestRestorableDateTime"] = bounds
            return result

        def restore_response(handler: Any) -> Any:
            from moto.dynamodb.responses import DynamoResult

            return DynamoResult(restore(handler.dynamodb_backend, handler.body).describe())

        self._set(Table, "describe", describe)
        self._set(DynamoDBBackend, "update_continuous_backups", update_continuous_backups)
        self._set(DynamoDBBackend, "describe_continuous_backups", describe_continuous_backups)
        self._set(DynamoHandler, "restore_table_to_point_in_time", restore_response)


def restore(backend: Any, body: dict[str, Any]) -> Any:
    """AWS-like restore: window checks, the table as it was at the restore time, overrides."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import PointInTimeRecoveryUnavailable, SourceTableNotFoundException

    source_name = body.get("SourceTableName") or str(body.get("SourceTableArn", "")).rsplit("/", 1)[-1]
    try:
        source = backend.get_table(source_name)
    except Exception as exc:
        raise SourceTableNotFoundException(source_name) from exc
    bounds = window(source)
    if bounds is None:
        raise PointInTimeRecoveryUnavailable(source_name)
    earliest, latest = bounds
    # botocore sends millisecond timestamps: allow that rounding at the edges.
    if body.get("UseLatestRestorableTime"):
        restore_at = latest
    elif "RestoreDateTime" in body:
        restore_at = _epoch(body["RestoreDateTime"])
        if not earliest - 1e-3 <= restore_at <= latest + 1e-3:
            raise JsonRESTError(
                "com.amazonaws.dynamodb.v20120810#InvalidRestoreTimeException",
                f"RestoreDateTime {restore_at} is outside the restorable window [{earliest}, {latest}]",
            )
    else:
        raise JsonRESTError("ValidationException", "Specify RestoreDateTime or UseLatestRestorableTime")
    table = backend.restore_table_to_point_in_time(body["TargetTableName"], source.name)
    table.items = rewind_items(source, table.items, restore_at)
    table.restore_date_time = restore_at
    table.__dict__.pop(HISTORY_ATTR, None)
    table.billing_mode = body.get("BillingModeOverride") or source.billing_mode
    sse = body.get("SSESpecificationOverride")
    if sse and sse.get("Enabled"):
        table.sse_specification = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS")}
        table.sse_specification["KMSMasterKeyId"] = sse.get("KMSMasterKeyId") or (
            table._get_default_encryption_key(backend.account_id, backend.region_name)
        )
    if CONTROL.creating_describes:
        table.__dict__[CREATING_ATTR] = CONTROL.creating_describes
    CONTROL.restores.append({"source": source.name, "target": table.name, "restore_at": restore_at})
    return table
