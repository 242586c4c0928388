"""Is a table's CDC archive keeping up, and how far does it provably reach?

At risk (each a named reason in `CdcPosture.risks`) when
- the live table's stream is off (changes are not captured at all);
- the archiver has no mapping on the live stream, or it is not enabled, or Lambda reports a problem;
- the mapping has fallen behind: its IteratorAge is over the table's RPO objective;
- the table was written to (DynamoDB's CloudWatch write metrics) at least `grace` ago and nothing
  the archive holds of the live stream is that new: the writes are stuck in the stream;
- the failure queue names a batch of this table's streams (or holds messages nobody can read).
A quiet table (no writes) with a working mapping is fine however old its newest object is.

Reach: the newest change archived from the live stream, with no gap behind it back to the
coverage start (the follower's coverage record, moved past any dead-letter gap and past any batch
Lambda dropped without even a failure-queue message, which names no stream). Lambda events
carry no shard id, so with several shards the newest change of one shard does not prove the
others reached it; when the mapping reports an IteratorAge the reach is held back by it (plus the
batching window), which bounds the slowest shard still being delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dynamodb_dr.cdc.coverage import StreamId
from dynamodb_dr.posture.cdc_sources import (
    ArchiverMapping,
    ArchiverMappingsView,
    MappingLags,
    MappingLagView,
    StreamArchive,
    WriteActivityView,
)
from dynamodb_dr.posture.dead_letters import DeadLetters
from dynamodb_dr.posture.models import CdcPosture, TablePosture

if TYPE_CHECKING:
    from collections.abc import Callable

PROCESSING_ALLOWANCE = timedelta(seconds=60)  # an invocation archives a batch well within this
DELIVERY_SLACK = timedelta(seconds=10)


@dataclass
class CdcActivitySources:
    """What the freshness check reads once per run for every table."""

    mappings: ArchiverMappingsView
    lags: MappingLagView
    writes: WriteActivityView
    batching_window: timedelta = timedelta(seconds=5)


@dataclass
class CdcFleet:
    mappings: dict[str, ArchiverMapping] | None = None
    lags: MappingLags | None = None
    writes: dict[str, list[datetime]] | None = None
    dead_letters: DeadLetters | None = None
    batching_window: timedelta = timedelta(seconds=5)
    errors: dict[str, str] = field(default_factory=dict)  # check -> why it could not be read

    @property
    def grace(self) -> timedelta:
        """How old a write may be before the archive must hold it."""
        return self.batching_window + PROCESSING_ALLOWANCE


def read_fleet(
    activity: CdcActivitySources | None,
    dead_letters: DeadLetters | None,
    live_tables: Iterable[str],
    now: datetime,
    why: Callable[[Exception], str],
) -> CdcFleet:
    fleet = CdcFleet(dead_letters=dead_letters)
    if activity is None:
        fleet.errors["cdc_mappings"] = "archiver function not configured"
        return fleet
    fleet.batching_window = activity.batching_window
    try:
        fleet.mappings = activity.mappings.by_stream()
    except Exception as exc:
        fleet.errors["cdc_mappings"] = why(exc)
    try:
        uuids = {m.uuid for m in (fleet.mappings or {}).values()}
        fleet.lags = activity.lags.lags(uuids, now)
    except Exception as exc:
        fleet.errors["cdc_iterator_age"] = why(exc)
    try:
        fleet.writes = activity.writes.write_minutes(list(live_tables), now)
    except Exception as exc:
        fleet.errors["cdc_writes"] = why(exc)
    return fleet


def assess_archive(
    cdc: CdcPosture,
    *,
    logical: str,
    live_table: str,
    description: dict[str, object],
    archive: StreamArchive,
    fleet: CdcFleet,
    rpo_seconds: float,
    now: datetime,
) -> CdcPosture:
    """Fill the freshness fields of `cdc` (its newest object and queue depth are already set)."""
    stream_arn = description.get("LatestStreamArn")
    spec = description.get("StreamSpecification") or {}
    cdc.stream_arn = str(stream_arn) if stream_arn else None
    cdc.newest_change = archive.newest_change
    risks = cdc.risks
    if not (isinstance(spec, dict) and spec.get("StreamEnabled")):
        risks.append(f"stream-off: the stream of {live_table} is off, its changes are not captured")
    mapping = (fleet.mappings or {}).get(cdc.stream_arn or "")
    lag = _lag(mapping, fleet.lags)
    cdc.mapping_lag_seconds = None if lag is None else round(lag, 3)
    if fleet.mappings is not None and cdc.stream_arn:
        if mapping is None:
            risks.append("no-mapping: the archiver has no mapping on the live stream")
        else:
            cdc.mapping_state = mapping.state
            if mapping.state not in {"Enabled", "Enabling", "Creating", "Updating"}:
                risks.append(
                    f"mapping-{mapping.state.lower()}: the archiver's mapping {mapping.uuid} is not running"
                )
            if (mapping.last_result or "").upper().startswith("PROBLEM"):
                risks.append(f"mapping-problem: {mapping.last_result}")
    if lag is not None and lag > rpo_seconds:
        risks.append(
            f"behind: the mapping is {_minutes(lag)} behind (IteratorAge), "
            f"over the {_minutes(rpo_seconds)} RPO objective"
        )
    gaps_end = _dead_letter_risks(cdc, (logical, live_table), fleet.dead_letters)
    dropped_until = fleet.lags.dropped_until if fleet.lags else None
    cdc.covered_since = _latest(archive.covered_since, gaps_end, dropped_until)
    if fleet.writes is not None:
        # Writes from before the live stream's coverage are a gap reported on its own (stream
        # turned off, dead letters): they can never be archived from this stream.
        minutes = [m for m in fleet.writes.get(live_table, []) if _overlaps(m, cdc.covered_since)]
        stuck = _unarchived_writes(minutes, archive.newest_change, fleet.grace, now)
        cdc.unarchived_writes_since = stuck
        if stuck is not None:
            risks.append(
                f"unarchived-writes: {live_table} was written to since {stuck:%H:%M} UTC "
                "and the archive holds none of it"
            )
    cdc.reach = _reach(cdc, archive, lag, fleet, now)
    cdc.reach_age_seconds = (
        None if cdc.reach is None else round(max(0.0, (now - cdc.reach).total_seconds()), 3)
    )
    return cdc


def _lag(mapping: ArchiverMapping | None, lags: MappingLags | None) -> float | None:
    """The mapping's latest IteratorAge. Not cleared by a newer archived change: with several
    shards that change may come from another shard than the one stuck (a reading ages out of the
    view's short window once the mapping delivers nothing more)."""
    if mapping is None or lags is None:
        return None
    reading = lags.by_uuid.get(mapping.uuid)
    if reading is None and not lags.per_mapping_published:
        # Lambda published no per-mapping series: the function's slowest mapping stands in for
        # every mapping, which can only overstate a lag.
        reading = lags.function
    return None if reading is None else reading.seconds


def _overlaps(minute: datetime, since: datetime | None) -> bool:
    return since is None or minute + timedelta(minutes=1) > since


def _unarchived_writes(
    minutes: list[datetime], newest_change: datetime | None, grace: timedelta, now: datetime
) -> datetime | None:
    """The first minute with writes that is old enough to be archived and newer than anything the
    archive holds of the live stream (None: every write is archived or still in its grace)."""
    due = [m for m in minutes if m + timedelta(minutes=1) + grace <= now]
    stuck = [m for m in due if newest_change is None or newest_change < m]
    return min(stuck) if stuck else None


def _dead_letter_risks(cdc: CdcPosture, tables: tuple[str, str], dead: DeadLetters | None) -> datetime | None:
    """Risks for this table's dead letters (its live table's streams, and those of the tables it
    was before a cutover: the logical name itself and its `<name>-dr-*` restores); returns when
    the newest gap of the live stream ends."""
    if dead is None or dead.depth == 0:
        return None
    logical, live_table = tables
    mine = [
        g for g in dead.gaps if _belongs(StreamId.from_arn(g.stream_arn).physical_table, logical, live_table)
    ]
    if mine:
        records = sum(g.records for g in mine)
        first, last = min(g.first for g in mine), max(g.last for g in mine)
        cdc.risks.append(
            f"dead-letters: {len(mine)} batch(es), {records} change(s) of {logical} written "
            f"{first:%Y-%m-%d %H:%M} to {last:%H:%M} UTC are not in the archive (failure queue)"
        )
    if dead.unread:
        cdc.risks.append(
            f"dead-letters-unread: {dead.unread} failure queue message(s) name no stream we can read"
        )
        cdc.dead_letters_unread = dead.unread
    current = [g.last for g in mine if g.stream_arn == cdc.stream_arn]
    return max(current) if current else None


def _belongs(physical: str, logical: str, live_table: str) -> bool:
    return physical in {logical, live_table} or physical.startswith(f"{logical}-dr-")


def _reach(
    cdc: CdcPosture, archive: StreamArchive, lag: float | None, fleet: CdcFleet, now: datetime
) -> datetime | None:
    newest, since = archive.newest_change, cdc.covered_since
    if newest is None or since is None or cdc.dead_letters_unread or newest < since:
        return None
    if fleet.lags is None:  # unknown: a batch may have been dropped without a trace
        return None
    reach = newest
    if lag is not None:  # a shard still being delivered may be this far behind the newest change
        reach = min(reach, now - timedelta(seconds=lag) - fleet.batching_window - DELIVERY_SLACK)
    return reach if reach >= since else None


def archive_base(posture: TablePosture) -> str | None:
    """The recovery source the archive replays onto up to its reach: a PITR restore, the export
    chain (rebuild from S3) or a backup restore, taken within the archive's gap-free coverage."""
    cdc = posture.cdc
    if cdc is None or cdc.reach is None or cdc.covered_since is None:
        return None
    since, reach = cdc.covered_since, cdc.reach
    pitr = posture.pitr
    if pitr and pitr.enabled and pitr.latest_restorable:
        base = min(pitr.latest_restorable, reach)
        if base >= since and (pitr.earliest_restorable is None or base >= pitr.earliest_restorable):
            return "pitr"
    exports = posture.exports
    if exports and exports.newest_point and since <= exports.newest_point <= reach:
        return "export"
    backups = posture.backups
    if backups and backups.newest and since <= backups.newest <= reach:
        return "backup"
    return None


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}m" if seconds >= 60 else f"{seconds:.0f}s"
