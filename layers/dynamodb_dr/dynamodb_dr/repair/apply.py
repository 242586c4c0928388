"""Apply a stored plan, one lane at a time: conditional writes, an adaptive rate, checkpoints.

Safety: every write carries the entry's guard (repair/conditions.py) and each batch of keys is read
consistently just before it is written, so a key that changed after the plan is never
overwritten: it is reported as `changed`. Idempotence: a write whose condition fails because the
item already holds the target was done (by an earlier attempt whose answer was lost, or before a
crash); no write is made twice with effect. Rate: a token bucket over write units keeps the lane
under its share of the table's write capacity and halves its rate on every throttle (then creeps
back up). Progress: each finished chunk's outcome and the lane's checkpoint are stored, so a lane
that stops (time budget, timeout, crash) resumes where it was.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

from dynamodb_dr.cdc.model import key_id_of
from dynamodb_dr.core.aws import AwsClients, error_code, translate
from dynamodb_dr.core.errors import RepairApplyFailed
from dynamodb_dr.repair import images
from dynamodb_dr.repair.conditions import guard_condition
from dynamodb_dr.repair.models import ChunkOutcome, LaneProgress, PlanEntry, PlanHeader
from dynamodb_dr.repair.store import RepairStore
from dynamodb_dr.repair.table import LiveTable

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
UNSURE_CODES = frozenset(
    {"InternalServerError", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout"}
)
MAX_ATTEMPTS = 12
RESERVE_SECONDS = 30.0  # stop taking chunks this long before the invocation's deadline
Outcome = Literal["written", "already", "changed"]


class WriteBudget:
    """Write units per second for this lane: a token bucket whose rate halves on a throttle and
    creeps back (2% of the ceiling per success) up to the ceiling, the lane's allowed share."""

    def __init__(
        self,
        ceiling: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = max(ceiling, 0.01)
        self.rate = self.ceiling
        self.floor = self.ceiling / 64
        self._clock, self._sleep = clock, sleep
        self._tokens = 0.0
        self._last = clock()
        self._lock = threading.Lock()
        self.throttles = 0
        self.units = 0.0

    def take(self, units: float) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= min(
                    units, self.rate
                ):  # an item larger than a second's worth waits for a full bucket
                    self._tokens -= units
                    self.units += units
                    return
                wait = (min(units, self.rate) - self._tokens) / self.rate
            self._sleep(max(wait, 0.001))  # at least a millisecond: float steps never stall

    def throttled(self) -> None:
        with self._lock:
            self.throttles += 1
            self.rate = max(self.floor, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    def succeeded(self) -> None:
        with self._lock:
            self.rate = min(self.ceiling, self.rate + self.ceiling * 0.02)


@dataclass
class WriteStats:
    retries: int = 0
    first_write: datetime | None = None
    last_write: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wrote(self, sent: datetime, answered: datetime) -> None:
        """A write made at some moment between `sent` and `answered`: the repair's writes lie
        within [first sent, last answered], the window that undoes them."""
        with self.lock:
            self.first_write = min(sent, self.first_write or sent)
            self.last_write = max(answered, self.last_write or answered)


class RepairWriter:
    """Conditional PutItem/DeleteItem on a client without SDK retries (throttles must be seen to
    slow down); throttles, 5xx and timeouts are retried here, and a retry whose condition fails
    with the target in place counts as written."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        key_names: Sequence[str],
        budget: WriteBudget,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client, self._table, self._keys = client, table, tuple(key_names)
        self.budget = budget
        self._sleep, self._now = sleep, now
        self.stats = WriteStats()

    def write(self, entry: PlanEntry, *, maybe_done: bool = False) -> Outcome:
        """`maybe_done`: an earlier attempt may already have written this entry."""
        from botocore.exceptions import BotoCoreError, ClientError

        target, guard = images.to_client(entry.t), images.to_client(entry.g)
        condition = guard_condition(guard, self._keys, entry.x).request()
        first_sent: datetime | None = None
        for attempt in range(MAX_ATTEMPTS):
            self.budget.take(entry.u)
            sent = self._now()
            first_sent = first_sent or sent
            try:
                self._send(entry, target, condition)
            except ClientError as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    current: Any = exc.response.get("Item")  # type: ignore[typeddict-item]
                    if not images.same_item(current, target):
                        return "changed"
                    if not maybe_done:
                        return "already"
                    self.stats.wrote(first_sent, self._now())  # an earlier attempt's write
                    return "written"
                if code not in THROTTLE_CODES | UNSURE_CODES:
                    raise translate(exc, table=self._table) from exc
                if code in THROTTLE_CODES:
                    self.budget.throttled()
                else:
                    maybe_done = True  # a 5xx may still have applied the write
                self._retry(attempt)
                continue
            except BotoCoreError:  # timeouts and connection errors: the write may have happened
                maybe_done = True
                self._retry(attempt)
                continue
            self.budget.succeeded()
            self.stats.wrote(sent, self._now())
            return "written"
        raise RepairApplyFailed(
            f"a write to {self._table} still failed after {MAX_ATTEMPTS} attempts (throttled or "
            "unavailable); the repair stopped at its checkpoint and can resume",
            table=self._table,
        )

    def _send(self, entry: PlanEntry, target: dict[str, Any] | None, condition: dict[str, Any]) -> None:
        common: dict[str, Any] = {
            "TableName": self._table,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **condition,
        }
        if target is None:
            self._client.delete_item(Key=images.to_client(entry.k) or {}, **common)
        else:
            self._client.put_item(Item=target, **common)

    def _retry(self, attempt: int) -> None:
        with self.stats.lock:
            self.stats.retries += 1
        self._sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))


@dataclass
class ApplyDeps:
    store: RepairStore
    reader: LiveTable
    writer_client: DynamoDBClient
    workers: int
    remaining_seconds: Callable[[], float]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def apply_lane(header: PlanHeader, lane_number: int, deps: ApplyDeps) -> LaneProgress:
    """Apply the lane's chunks from its checkpoint until done or the time budget is near."""
    lane = header.lanes[lane_number]
    progress = deps.store.progress(header, lane_number)
    end = lane.first_chunk + lane.chunks
    if progress.done or progress.next_chunk >= end:
        return progress
    died_in = progress.inflight if progress.inflight == progress.next_chunk else None
    progress.invocations += 1
    progress.inflight = progress.next_chunk
    started = datetime.now(UTC)  # before any write of this invocation: bounds the undo window
    progress.first_write = min(progress.first_write or started, started)
    deps.store.save_progress(header, progress)
    ceiling = header.units_per_second / max(1, len(header.lanes))
    budget = WriteBudget(ceiling, clock=deps.clock, sleep=deps.sleep)
    writer = RepairWriter(deps.writer_client, header.live_table, _key_names(header), budget, sleep=deps.sleep)
    before = (progress.retries, progress.throttled)
    first = True
    with ThreadPoolExecutor(max_workers=deps.workers) as pool:
        while progress.next_chunk < end:
            entries = deps.store.entries(header, progress.next_chunk)
            needed = max(sum(e.u for e in entries) / budget.rate, len(entries) / (deps.workers * 20))
            if not first and needed + RESERVE_SECONDS > deps.remaining_seconds():
                progress.inflight = None  # a clean stop: the next chunk was not started
                break
            first = False
            outcome = _apply_chunk(
                progress.next_chunk,
                entries,
                header=header,
                deps=deps,
                writer=writer,
                pool=pool,
                died_in=died_in,
            )
            deps.store.save_outcome(header, outcome)
            progress.written += len(outcome.written)
            progress.already += len(outcome.already)
            progress.changed += len(outcome.changed)
            progress.next_chunk += 1
            progress.inflight = progress.next_chunk if progress.next_chunk < end else None
            _merge_stats(progress, writer, before)
            deps.store.save_progress(header, progress)
    progress.done = progress.next_chunk >= end
    _merge_stats(progress, writer, before)
    deps.store.save_progress(header, progress)
    return progress


def _apply_chunk(
    chunk: int,
    entries: Sequence[PlanEntry],
    *,
    header: PlanHeader,
    deps: ApplyDeps,
    writer: RepairWriter,
    pool: ThreadPoolExecutor,
    died_in: int | None,
) -> ChunkOutcome:
    """Read the chunk's items, leave alone the ones already done or changed, write the rest."""
    maybe_done = chunk == died_in
    current = deps.reader.read(header.live_table, [images.to_client(e.k) or {} for e in entries])
    read_at = datetime.now(UTC)
    outcome = ChunkOutcome(chunk=chunk)
    todo: list[int] = []
    for index, entry in enumerate(entries):
        item = current[key_id_of(images.to_client(entry.k) or {})]
        if images.same_item(item, images.to_client(entry.t)):
            if maybe_done:  # written by the invocation that died here, before this read
                writer.stats.wrote(read_at, read_at)
            (outcome.written if maybe_done else outcome.already).append(index)
        elif not images.same_item(item, images.to_client(entry.g)):
            outcome.changed.append(index)  # changed since the plan: never overwritten
        else:
            todo.append(index)
    results = pool.map(lambda i: (i, writer.write(entries[i], maybe_done=maybe_done)), todo)
    for index, result in results:
        getattr(outcome, result).append(index)
    for bucket in (outcome.written, outcome.already, outcome.changed):
        bucket.sort()
    return outcome


def _merge_stats(progress: LaneProgress, writer: RepairWriter, before: tuple[int, int]) -> None:
    """This invocation's counts on top of the earlier invocations' (`before`)."""
    stats = writer.stats
    progress.retries = before[0] + stats.retries
    progress.throttled = before[1] + writer.budget.throttles
    if stats.first_write:
        progress.first_write = min(stats.first_write, progress.first_write or stats.first_write)
    if stats.last_write:
        progress.last_write = max(stats.last_write, progress.last_write or stats.last_write)


def _key_names(header: PlanHeader) -> tuple[str, ...]:
    names = header.summary.get("key_names")
    return tuple(names) if names else ()


@cache
def _writer_client(region: str | None, endpoint: str | None, pool: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=10,
        user_agent_extra="dynamodb-dr",
    )
    kwargs = {"endpoint_url": endpoint} if endpoint else {}
    session: Any = boto3.session.Session(region_name=region)
    return session.client("dynamodb", config=config, **kwargs)


def writer_client(clients: AwsClients, workers: int) -> DynamoDBClient:
    """A DynamoDB client without SDK retries (the writer sees every throttle) and one connection
    per worker (AwsClients' clients keep botocore's default pool of 10)."""
    return cast("DynamoDBClient", _writer_client(clients.region_name, clients.endpoint_url, workers))
