"""Simulated time for a drill or test that needs minutes or hours to pass in seconds.

`CLOCK` runs ahead of the wall clock by `CLOCK.offset`; what the emulator stamps itself follows
it: stream records' ApproximateCreationDateTime and DynamoDB's write metrics (and the emulated
Lambda mapping's IteratorAge). Everything else moto stamps (S3 LastModified, ...) stays on the
wall clock. `let_time_pass` goes the other way: it moves what already happened into the past
(a table's stream records, every CloudWatch data point, the follower's coverage records); what is
already archived keeps its times, so shift before archiving what should look old.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynamodb_dr_local.emulator.core import Emulator

STAMP = "%Y%m%dT%H%M%S.%fZ"  # cdc/coverage.py's record names


class EmulatedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, minutes: float) -> None:
        self.offset += timedelta(minutes=minutes)


CLOCK = EmulatedClock()  # process-wide, like moto's state; back to the wall clock per emulator


def clocked_stream_times(set_attr: Callable[[Any, str, Any], None]) -> None:
    """Stream records are made at the emulated clock's time (installed after the whole-second hook)."""
    from moto.dynamodb.models.table import StreamRecord

    CLOCK.offset = timedelta(0)
    original = StreamRecord.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created = self.record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime) and CLOCK.offset:
            self.record["dynamodb"]["ApproximateCreationDateTime"] = created + CLOCK.offset

    set_attr(StreamRecord, "__init__", init)


def let_time_pass(emu: Emulator, table: str, minutes: float) -> None:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.dynamodb.models import dynamodb_backends

    from dynamodb_dr_local.emulator.core import ACCOUNT_ID

    shift = timedelta(minutes=minutes)
    moto_table = dynamodb_backends[ACCOUNT_ID][emu.region].tables[table]
    for record in moto_table.stream_shard.items if moto_table.stream_shard else []:
        record.record["dynamodb"]["ApproximateCreationDateTime"] -= shift
    for datum in cloudwatch_backends[ACCOUNT_ID][emu.region].metric_data:
        datum.timestamp -= shift
    _shift_coverage_records(emu, shift)


def _shift_coverage_records(emu: Emulator, shift: timedelta) -> None:
    s3 = emu.clients.client("s3")
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix="cdc/streams/").get("Contents", []):
            folder, stamp = obj["Key"].rsplit("/", 1)
            try:
                when = datetime.strptime(stamp.removesuffix(".json"), STAMP).replace(tzinfo=UTC)
            except ValueError:
                continue
            moved = f"{folder}/{when - shift:{STAMP}}.json"
            s3.copy_object(Bucket=bucket, Key=moved, CopySource={"Bucket": bucket, "Key": obj["Key"]})
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
