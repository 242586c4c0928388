"""Item handling that moto does slowly for tables of 10,000+ items: backups and full-table order.

Backups share item objects instead of deep-copying the whole table.

moto 5.2.5's `Backup` deep-copies the source table, stream records and the emulator's item
history included: a 10,000-item table took ~2 s per backup, a quarter of a drill. A backup here
keeps the table's definition (copied) and its current item objects (shared, not copied): the
emulator never changes a stored item object (pitr.py replaces it before moto's in-place update,
`copy_on_write`), and a restore from the backup deep-copies the items as moto always did. The
stream and the item history are not part of a backup, on AWS either.

`Table.all_items` (every Scan page, every export snapshot) sorted with DynamoType comparisons that
recompute each key's Python value on every comparison; it now sorts on those values computed once
per item: the same order.
"""

from __future__ import annotations

import copy
from typing import Any

from dynamodb_dr_local.emulator.pitr import HISTORY_ATTR

DEFINITION = ("schema", "attr", "throughput", "indexes", "global_indexes")


def snapshot(table: Any) -> Any:
    """A copy of `table` for a backup: own definition and item maps, shared item objects."""
    copied = copy.copy(table)
    copied.__dict__ = dict(table.__dict__)
    copied.__dict__.pop(HISTORY_ATTR, None)
    copied.stream_shard = None
    for name in DEFINITION:
        setattr(copied, name, copy.deepcopy(getattr(table, name)))
    items = copy.copy(table.items)  # keeps a defaultdict's factory
    if table.range_key_attr is not None:
        for hash_key, by_range in items.items():
            items[hash_key] = dict(by_range)
    copied.items = items
    return copied


def _order(item: Any) -> Any:
    if item.range_key is None:
        return item.hash_key.cast_value
    return (item.hash_key.cast_value, item.range_key.cast_value)


def install(set_attr: Any) -> None:
    from moto.core.utils import utcnow
    from moto.dynamodb.models.table import Backup, Table

    def all_items(table: Any) -> list[Any]:
        if table.range_key_attr:
            items = [item for by_range in table.items.values() for item in by_range.values()]
        else:
            items = list(table.items.values())
        return sorted(items, key=_order)

    set_attr(Table, "all_items", all_items)

    def init(  # noqa: PLR0917 - moto's own signature
        backup: Any,
        account_id: str,
        region_name: str,
        name: str,
        table: Any,
        status: str | None = None,
        type_: str | None = None,
    ) -> None:  # moto 5.2.5's Backup.__init__, with `snapshot` instead of a deep copy
        backup.region_name = region_name
        backup.account_id = account_id
        backup.name = name
        backup.table = snapshot(table)
        backup.status = status or "AVAILABLE"
        backup.type = type_ or "USER"
        backup.creation_date_time = utcnow()
        backup.identifier = backup._make_identifier()

    set_attr(Backup, "__init__", init)
