"""Turning a table's stream off and on again, as AWS allows it.

moto 5.2.5 keeps streaming a table whose stream was turned off (and then fails on the next write,
its view type gone) and refuses to turn it back on. On AWS, turning the stream off stops capturing
writes; turning it on creates a new stream with a new label (LatestStreamArn changes). The old
stream's records stay readable for 24 hours on AWS; here they are dropped with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def allow_stream_toggle(set_attr: Callable[[Any, str, Any], None]) -> None:
    from moto.dynamodb.exceptions import StreamAlreadyEnabledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    set_stream = Table.set_stream_specification

    def set_stream_specification(self: Any, streams: dict[str, Any] | None) -> None:
        set_stream(self, streams)
        if not (self.stream_specification or {}).get("StreamEnabled"):
            self.stream_shard = None  # nothing is captured while the stream is off

    def update_table_streams(self: Any, table: Any, stream_specification: dict[str, Any]) -> None:
        wants_on = stream_specification.get("StreamEnabled") or stream_specification.get("StreamViewType")
        if wants_on and (table.stream_specification or {}).get("StreamEnabled"):
            raise StreamAlreadyEnabledException
        table.set_stream_specification(stream_specification)

    set_attr(Table, "set_stream_specification", set_stream_specification)
    set_attr(DynamoDBBackend, "update_table_streams", update_table_streams)
