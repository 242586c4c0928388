"""Drill stage: the CDC archiver gets stuck, the alarms catch it in minutes, the fix loses nothing.

The stream follower maps the archiver onto the table; Lambda's mapping is emulated per batch
(emulator/mappings.py) on a simulated clock, one delivery per simulated minute. S3 then refuses
the archive's writes (as a changed bucket policy or KMS grant would): the mapping holds and retries
the batch while the application keeps writing. Each simulated minute the posture check (the code
behind `dynamodb-dr status` and the posture function) runs and the deployed alarms' conditions are
evaluated against what they watch. Then the fault is removed, the backlog drains, and every stream
record of the outage is looked up in the archive: none missing, none twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.model import read_object
from dynamodb_dr.posture.metrics import aggregate_doc
from dynamodb_dr.posture.run import PostureSettings, build_sources, run_posture
from dynamodb_dr_local.drill.live import Application
from dynamodb_dr_local.drill.report import Progress, table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector
from dynamodb_dr_local.emulator.mappings import MappingDelivery
from dynamodb_dr_local.emulator.time_travel import CLOCK

STREAM_RETENTION_HOURS = 24


@dataclass
class OutageMinute:
    minute: int
    retry: str  # what the mapping's delivery did
    iterator_age_minutes: float | None
    cdc: str  # the posture's CDC verdict for the table
    alarms: list[str]


@dataclass
class FreshnessStageResult:
    outage_writes: int = 0  # the application's writes while the archiver was stuck
    minutes: list[OutageMinute] = field(default_factory=list)
    first_alarm: str = ""
    first_alarm_minute: int | None = None  # simulated minutes after the archiver got stuck
    alarms_raised: dict[str, int] = field(default_factory=dict)  # alarm -> first minute in condition
    dead_lettered: int = 0
    backlog_archived: int = 0
    stream_records: int = 0
    missing: int = 0
    duplicated: int = 0
    green_before: bool = False
    green_after_fix: bool = False

    @property
    def caught_in_time(self) -> bool:
        return self.first_alarm_minute is not None and self.first_alarm_minute < STREAM_RETENTION_HOURS * 60

    @property
    def nothing_lost(self) -> bool:
        return (
            self.stream_records > 0
            and self.missing == 0
            and self.duplicated == 0
            and self.dead_lettered == 0
            and self.green_after_fix
        )


def run_freshness_stage(
    emu: Emulator,
    stack: DeployedStack,
    app: Application,
    *,
    logical_table: str,
    live_table: str | None = None,
    writes_per_minute: int = 5,
    max_minutes: int = 25,
    progress: Progress,
) -> FreshnessStageResult:
    """Runs last: its simulated minutes are ahead of the wall clock, which earlier stages' windows
    (restore validation against the archive) would see as the future."""
    try:
        tables = (logical_table, live_table or logical_table)
        return _run(emu, stack, app, tables, sizes=(writes_per_minute, max_minutes), progress=progress)
    finally:
        CLOCK.offset = timedelta(0)  # later stages run on the wall clock again


def _run(
    emu: Emulator,
    stack: DeployedStack,
    app: Application,
    tables: tuple[str, str],
    *,
    sizes: tuple[int, int],
    progress: Progress,
) -> FreshnessStageResult:
    writes_per_minute, max_minutes = sizes
    logical_table, live_table = tables
    result = FreshnessStageResult()
    _invoke(emu, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    mapping = MappingDelivery(emu, _mapping_uuid(emu, stack, live_table))
    skipped = mapping.skip_to_latest()  # what the table held so far the previous stages archived
    posture = _Posture(emu, stack, logical_table)
    app.write(writes_per_minute)
    mapping.drain()
    result.green_before = posture.fresh(CLOCK.now())
    progress.step(f"stream follower mapped the archiver onto {live_table}; posture: CDC archive fresh")

    thresholds = _thresholds(stack)
    failing: list[int] = []
    with FaultInjector() as faults:
        faults.deny(
            "s3", "PutObject", when=lambda params: str(params.get("Key", "")).startswith("cdc/table=")
        )
        for minute in range(1, max_minutes + 1):
            CLOCK.advance(1)
            app.write(writes_per_minute)  # the application keeps writing
            result.outage_writes += writes_per_minute
            poll = mapping.poll()
            result.dead_lettered += poll.dead_lettered
            if poll.failed:
                failing.append(minute)
            age = poll.iterator_age_seconds
            verdict, aggregate = "-", 0.0
            if "CdcArchiveAtRisk" not in result.alarms_raised:  # one posture run per minute until then
                verdict, aggregate = posture.verdict(CLOCK.now())
            conditions = {
                "CdcArchiveAtRisk": "CdcArchiveAtRisk" in result.alarms_raised
                or aggregate >= thresholds["CdcArchiveAtRisk"],
                "CdcArchiverFailing": len([m for m in failing if m > minute - 5]) >= 3,
                "CdcIteratorAge": age is not None and age / 60 > thresholds["CdcIteratorAge"],
            }
            raised = sorted(name for name, on in conditions.items() if on)
            for name in raised:
                result.alarms_raised.setdefault(name, minute)
            retry = "held, retried" if poll.failed else f"{poll.archived} archived"
            minutes = None if age is None else round(age / 60, 1)
            result.minutes.append(OutageMinute(minute, retry, minutes, verdict, raised))
            if len(result.alarms_raised) == len(conditions):
                break
    if result.alarms_raised:
        result.first_alarm, result.first_alarm_minute = min(
            result.alarms_raised.items(), key=lambda kv: kv[1]
        )
    progress.step(
        f"archiver stuck (S3 denied) for {len(result.minutes)} simulated minutes while "
        f"{result.outage_writes} writes arrived: first alarm condition {result.first_alarm or 'NONE'} "
        f"at +{result.first_alarm_minute} min"
    )

    CLOCK.advance(1)  # fixed: the held batch goes through on the next delivery
    result.backlog_archived = mapping.drain()
    CLOCK.advance(6)  # the next posture run: no IteratorAge reading of the outage left in its window
    result.green_after_fix = posture.fresh(CLOCK.now())
    result.stream_records, result.missing, result.duplicated = _completeness(
        emu, stack, tables, mapping.stream_arn, skipped
    )
    progress.step(
        f"archiver fixed: backlog of {result.backlog_archived} changes archived; {result.missing} of "
        f"{result.stream_records} stream records missing, {result.duplicated} twice; posture: "
        f"{'fresh' if result.green_after_fix else 'STILL AT RISK'}"
    )
    return result


class _Posture:
    """The posture check at a simulated time (the function measures at its own 'now')."""

    def __init__(self, emu: Emulator, stack: DeployedStack, logical_table: str) -> None:
        config = emu.clients.client("lambda").get_function_configuration(
            FunctionName=stack.physical("PostureFunction")
        )
        self._settings = PostureSettings.from_env(config["Environment"]["Variables"])
        self._sources = build_sources(self._settings, emu.clients, self._settings.config())
        self._table = logical_table

    def verdict(self, now: datetime) -> tuple[str, float]:
        report = run_posture(self._settings, self._sources, now)
        (posture,) = [t for t in report.tables if t.logical_name == self._table]
        risks = posture.cdc.risks if posture.cdc else ["unknown"]
        verdict = "fresh" if not risks else "AT RISK: " + ", ".join(r.split(":", 1)[0] for r in risks)
        return verdict, aggregate_doc(report).values["TablesCdcAtRisk"][0]

    def fresh(self, now: datetime) -> bool:
        return self.verdict(now)[0] == "fresh"


def _thresholds(stack: DeployedStack) -> dict[str, float]:
    """The alarms' thresholds as deployed (the emulator neither creates nor evaluates alarms)."""
    cfn = stack.template.cloudformation
    found = {}
    for alarm in ("CdcArchiveAtRisk", "CdcIteratorAge"):
        threshold = cfn["Resources"][f"{alarm}Alarm"]["Properties"]["Threshold"]
        if isinstance(threshold, dict):  # {"Ref": "RpoMinutes"}
            name = threshold["Ref"]
            threshold = stack.parameters.get(name) or cfn["Parameters"][name]["Default"]
        found[alarm] = float(threshold)
    return found


def _completeness(
    emu: Emulator, stack: DeployedStack, tables: tuple[str, str], stream_arn: str, skipped: int
) -> tuple[int, int, int]:
    """(stream records since the mapping started, how many the archive lacks, archived twice)."""
    from dynamodb_dr_local.emulator.streams import StreamReader

    reader = StreamReader(emu.clients.client("dynamodb"), emu.clients.client("dynamodbstreams"), tables[1])
    reader.stream_arn = stream_arn
    since_mapped = [r["dynamodb"]["SequenceNumber"] for r in reader.read(limit=10**9)][skipped:]
    label = stream_arn.rsplit("/", 1)[1]
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    wanted = set(since_mapped)
    archived = [
        change.sequence_number
        for key in store.keys(f"cdc/table={tables[0]}/")
        if key.endswith(".jsonl.gz")
        for change in read_object(store.get(key), key)
        if change.stream_label == label and change.sequence_number in wanted
    ]
    return len(since_mapped), len(wanted - set(archived)), len(archived) - len(set(archived))


def _mapping_uuid(emu: Emulator, stack: DeployedStack, live_table: str) -> str:
    stream = emu.clients.client("dynamodb").describe_table(TableName=live_table)["Table"]["LatestStreamArn"]
    listed = emu.clients.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical("CdcArchiverFunction")
    )["EventSourceMappings"]
    return next(str(m["UUID"]) for m in listed if m["EventSourceArn"] == stream)


def _invoke(emu: Emulator, function: str, event: dict[str, Any]) -> dict[str, Any]:
    response = emu.clients.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    payload = dict(json.loads(response["Payload"].read()))
    if response.get("FunctionError"):
        raise RuntimeError(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
    return payload


def render(result: FreshnessStageResult) -> str:
    """One row per change of the alarm conditions (and the last minute)."""
    shown = [
        m
        for i, m in enumerate(result.minutes)
        if i == 0 or i == len(result.minutes) - 1 or m.alarms != result.minutes[i - 1].alarms
    ]
    rows = [
        (f"+{m.minute} min", m.retry, _or_dash(m.iterator_age_minutes), m.cdc, ", ".join(m.alarms) or "-")
        for m in shown
    ]
    return table(
        ("simulated", "mapping", "IteratorAge (min)", "posture: CDC archive", "alarm conditions"), rows
    )


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
