"""Suite: in-place repair throughput at AWS-like write latency and under throttling, and the
projected time to repair 5% of a 100M-item table.

The real apply lane (`dynamodb_dr.repair.apply.apply_lane`: consistent read of each chunk, guard
conditions, the adaptive write budget, checkpoints) runs over an in-memory plan store against a
table stand-in whose conditional writes take WRITE_LATENCY_S and which throttles every write
beyond its write capacity (a token bucket, as a provisioned table does). The baseline, in the
same run and against the same stand-in, is the one-item-at-a-time loop of the peers that restore
single items (dynamodb-replicator): one conditional write after the other, retrying a throttle
after a back-off.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from bench.harness import Config, Row

SUITE = "repair"
WRITE_LATENCY_S = 0.008  # one conditional PutItem/DeleteItem round trip on AWS, typical order
READ_LATENCY_S = 0.025  # one BatchGetItem of 100 keys
WORKERS = 16  # REPAIR_WORKERS in template.yaml
REAL_ITEMS = 100_000_000
REAL_SHARE = 0.05  # 5% of the table damaged
REAL_CAPACITY = 40_000.0  # write units/s: on-demand's default table maximum (warm throughput)
SHARE = 0.5  # RepairSettings' default share of the table's write capacity


class _Table:
    """Conditional writes that take WRITE_LATENCY_S and throttle beyond `capacity` units/s
    (no burst credit: a tenth of a second's worth at most, none at the start)."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.items: dict[str, dict[str, Any]] = {}
        self.throttled = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._last = time.monotonic()

    def _admit(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity / 10, self._tokens + (now - self._last) * self.capacity)
            self._last = now
            if self._tokens < 1:
                self.throttled += 1
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
            self._tokens -= 1

    def put_item(self, **request: Any) -> dict[str, Any]:
        time.sleep(WRITE_LATENCY_S)
        self._admit()
        with self._lock:
            self.items[request["Item"]["id"]["S"]] = request["Item"]
            self.writes += 1
        return {}

    def delete_item(self, **request: Any) -> dict[str, Any]:
        time.sleep(WRITE_LATENCY_S)
        self._admit()
        with self._lock:
            self.items.pop(request["Key"]["id"]["S"], None)
            self.writes += 1
        return {}


class _Reader:
    """LiveTable.read over the stand-in: every key as the plan saw it (the bad image)."""

    def __init__(self, table: _Table, guards: dict[str, dict[str, Any]]) -> None:
        self._table, self._guards = table, guards

    def read(self, table: str, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
        from dynamodb_dr.cdc.model import key_id_of

        time.sleep(READ_LATENCY_S * max(1, len(keys) // 100))
        return {key_id_of(k): self._guards[k["id"]["S"]] for k in keys}


class _Store:
    """RepairStore's lane methods in memory."""

    def __init__(self, chunks: dict[int, list[Any]]) -> None:
        self._chunks = chunks
        self.progress_saved: dict[int, Any] = {}

    def entries(self, header: Any, chunk: int) -> list[Any]:
        return self._chunks[chunk]

    def progress(self, header: Any, lane: int) -> Any:
        from dynamodb_dr.repair.models import LaneProgress

        return LaneProgress(lane=lane, next_chunk=header.lanes[lane].first_chunk)

    def save_progress(self, header: Any, progress: Any) -> None:
        self.progress_saved[progress.lane] = progress

    def save_outcome(self, header: Any, outcome: Any) -> None:
        pass


def _plan(count: int, units_per_second: float) -> tuple[Any, dict[int, list[Any]], dict[str, Any]]:
    from dynamodb_dr.repair.models import Lane, PlanEntry, PlanHeader

    chunk_size = 250
    entries, guards = [], {}
    for n in range(count):
        key = f"customer-{n:07d}"
        bad = {"id": {"S": key}, "email": {"S": "null@invalid"}, "deploy": {"S": "v42"}}
        good = {"id": {"S": key}, "email": {"S": f"{key}@example.com"}, "tier": {"S": "gold"}}
        entries.append(PlanEntry(k={"id": {"S": key}}, t=good, g=bad, x=()))
        guards[key] = bad
    chunks = {i // chunk_size: entries[i : i + chunk_size] for i in range(0, count, chunk_size)}
    header = PlanHeader(
        repair_id="bench",
        mode="repair",
        table="t",
        live_table="t",
        created_at=datetime.now(UTC),
        request={},
        entries=count,
        chunk_size=chunk_size,
        chunks=len(chunks),
        lanes=(Lane(lane=0, first_chunk=0, chunks=len(chunks)),),
        write_units=count,
        units_per_second=units_per_second,
        summary={"key_names": ["id"]},
    )
    return header, chunks, guards


def _apply(count: int, capacity: float, asked: float) -> tuple[float, int, int]:
    """(seconds, keys written, throttles) of one lane applying `count` keys."""
    from dynamodb_dr.repair.apply import ApplyDeps, apply_lane

    header, chunks, guards = _plan(count, asked)
    table = _Table(capacity)
    store = _Store(chunks)
    deps = ApplyDeps(
        store=store,  # type: ignore[arg-type]
        reader=_Reader(table, guards),  # type: ignore[arg-type]
        writer_client=table,  # type: ignore[arg-type]
        workers=WORKERS,
        remaining_seconds=lambda: 900.0,
    )
    started = time.perf_counter()
    progress = apply_lane(header, 0, deps)
    seconds = time.perf_counter() - started
    if not progress.done or progress.written != count or len(table.items) != count:
        raise RuntimeError(f"the lane wrote {progress.written}/{count} keys")
    return seconds, progress.written, table.throttled


def _one_at_a_time(count: int, capacity: float) -> tuple[float, int]:
    """The single-item peers' loop: one conditional write after the other, retry on throttle."""
    table = _Table(capacity)
    started = time.perf_counter()
    for n in range(count):
        key = f"customer-{n:07d}"
        item = {"id": {"S": key}, "email": {"S": f"{key}@example.com"}, "tier": {"S": "gold"}}
        for attempt in range(10):
            try:
                table.put_item(TableName="t", Item=item, ConditionExpression="attribute_exists(id)")
                break
            except ClientError:
                time.sleep(0.05 * 2**attempt)
    return time.perf_counter() - started, table.writes


def run(config: Config) -> list[Row]:
    import statistics

    count = config.size(2_000, 500)
    rows: list[Row] = []
    base = [_one_at_a_time(min(count, 400), 10_000.0) for _ in range(config.repeat)]
    base_rate = statistics.median(n / s for s, n in base)
    label = f"one conditional write at a time (single-item peers) at {WRITE_LATENCY_S * 1000:.0f} ms"

    # Unthrottled: the lane's workers set the pace.
    free = [_apply(count, 1_000_000.0, 1_000_000.0) for _ in range(config.repeat)]
    free_rate = statistics.median(n / s for s, n, _ in free)
    rows.append(
        Row(
            SUITE,
            f"repair apply, one lane of {WORKERS} writers at {WRITE_LATENCY_S * 1000:.0f} ms/write "
            "(simulated), keys/s",
            free_rate,
            "keys/s",
            label,
            base_rate,
            runs=config.repeat,
            note="the real apply_lane (consistent chunk reads, guard conditions, adaptive budget) over "
            "a table stand-in with AWS-like latency: the write loop's shape, not this machine's",
        )
    )

    # Throttled: the plan asks twice what the table can take; the budget must back off and still
    # finish, close to the table's capacity.
    capacity = max(200.0, free_rate / 3)
    throttled = [_apply(count, capacity, capacity * 2) for _ in range(config.repeat)]
    rate = statistics.median(n / s for s, n, _ in throttled)
    throttles = int(statistics.median(t for _, _, t in throttled))
    rows.append(
        Row(
            SUITE,
            f"repair apply when the plan asks 2x a {capacity:,.0f} WCU/s table (throttled), keys/s",
            rate,
            "keys/s",
            f"the table's capacity ({capacity:,.0f} writes/s)",
            capacity,
            runs=config.repeat,
            note=f"{throttles} throttles per run (median), every key written once; the budget halves "
            "its rate per throttle and creeps back",
        )
    )

    # Projection: 5% of a 100M-item table with the template's lanes at the default share.
    lanes = 8
    keys = int(REAL_ITEMS * REAL_SHARE)
    per_second = min(REAL_CAPACITY * SHARE, free_rate * lanes)
    hours = keys / per_second / 3600
    rows.append(
        Row(
            SUITE,
            f"projected time to repair {keys:,} keys ({REAL_SHARE:.0%} of {REAL_ITEMS:,}), hours",
            hours,
            "hours",
            "the same keys one at a time",
            keys / base_rate / 3600,
            better="lower",
            runs=0,
            note=f"{lanes} lanes x the measured lane rate, capped at {SHARE:.0%} of "
            f"{REAL_CAPACITY:,.0f} WCU/s; plus the plan (archive read) and the backup's ~1 min settle",
        )
    )
    return rows
