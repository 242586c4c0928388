"""Drill stage: the bad deploy undone in place from the CDC archive, before the PITR restore.

Right after the incident the repair state machine runs on the live table: a dry run (what it would
do), then the repair of the window [T, end of the bad deploy). It is proven item for item: every
customer the deploy corrupted or deleted equals its state before T again, every good sign-up made
after the window is still there, nothing else changed. Its RTO is set beside the restore's, with
the parts the emulator cannot show (detection, the backup's settle time, the writes at the real
table's size and capacity) assumed or estimated and marked so.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from dynamodb_dr.cdc.archive import ArchiveStore, read_changes
from dynamodb_dr.repair.models import RepairSettings
from dynamodb_dr_local.drill.incident import KEY, Incident, phases, scan_items
from dynamodb_dr_local.drill.objectives import RtoPart
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.output import duration, table

# Planning at the real size: the archive's window is read (gzip JSON lines, ~30,000 changes/s on
# one function) and every affected key read consistently (BatchGetItem of 100 keys, ~25 ms).
PLAN_CHANGES_PER_SECOND = 30_000
PLAN_KEYS_PER_SECOND = 4_000
MAX_CHANGES_PER_REPAIR = int(RepairSettings.model_fields["repair_max_changes"].default)


@dataclass
class RepairStageResult:
    window: dict[str, str] = field(default_factory=dict)
    dry_run: dict[str, Any] = field(default_factory=dict)  # the dry run's key counts
    execution: str = ""
    status: str = ""
    error: str = ""
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    damaged: int = 0  # customers the bad deploy corrupted or deleted
    repaired_exactly: int = 0
    signups: int = 0
    signups_kept: int = 0
    others_unchanged: bool = False
    writes_archived: int = 0  # the repair's writes found in the CDC archive (what an undo reads)

    @property
    def ok(self) -> bool:
        return (
            self.status == "SUCCEEDED"
            and self.damaged > 0
            and self.repaired_exactly == self.damaged
            and self.signups_kept == self.signups
            and self.others_unchanged
        )

    @property
    def undoable(self) -> bool:
        written = int((self.report.get("applied") or {}).get("written", -1))
        return written > 0 and self.writes_archived == written


def run_repair_stage(
    emu: Emulator,
    stack: DeployedStack,
    *,
    logical_table: str,
    incident: Incident,
    archive: Callable[[], int],
    progress: Progress,
) -> RepairStageResult:
    """`archive()` delivers the table's stream to the CDC archiver (as Lambda's mapping does)."""
    start, end = incident.start, incident.end
    result = RepairStageResult(window={"from": _iso(start), "to": _iso(end)}, damaged=len(incident.damaged))
    request = {"table": logical_table, "from": result.window["from"], "to": result.window["to"]}
    dry = _run(emu, stack, {**request, "dry_run": True}, f"drill-repair-dry-{_stamp()}")
    result.dry_run = json.loads(dry.get("output") or "{}").get("keys", {})
    keys = result.dry_run
    progress.step(
        f"repair dry run of [{start:%H:%M:%S}, {end:%H:%M:%S}): {keys.get('affected', 0)} keys "
        f"({keys.get('put-back-modified', 0)} to put back, {keys.get('put-back-deleted', 0)} to re-create, "
        f"{keys.get('conflict', 0)} conflicts); nothing written"
    )
    started = time.monotonic()
    described = _run(emu, stack, request, f"drill-repair-{_stamp()}")
    result.seconds = time.monotonic() - started
    result.execution, result.status = described["name"], described["status"]
    result.error = f"{described.get('error', '')} {described.get('cause', '')}".strip()[:300]
    result.report = json.loads(described.get("output") or "{}")
    result.phases = described.get("phases", {})
    _check(result, incident, scan_items(emu, logical_table))
    applied = result.report.get("applied") or {}
    progress.step(
        f"repair {result.status} in {result.seconds:.1f}s: {applied.get('written', 0)} keys written under a "
        f"backup, {result.repaired_exactly}/{result.damaged} damaged customers back exactly, "
        f"{result.signups_kept}/{result.signups} sign-ups after the window kept; no cutover"
    )
    archive()
    result.writes_archived = _archived_writes(emu, stack, logical_table, result.report, set(incident.damaged))
    undo = result.report.get("undo") or {}
    progress.step(
        f"the repair's own {result.writes_archived} writes are in the CDC archive: "
        f"`{undo.get('cli', 'dynamodb-dr repair --undo <id>')}` would undo it the same way"
    )
    return result


def _archived_writes(
    emu: Emulator, stack: DeployedStack, logical_table: str, report: dict[str, Any], keys: set[str]
) -> int:
    """Damaged keys with an archived change in the repair's own window (its undo window)."""
    window = (report.get("undo") or {}).get("window") or {}
    if not window:
        return 0
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    start, end = (datetime.fromisoformat(window[k].replace("Z", "+00:00")) for k in ("from", "to"))
    changes = read_changes(store, logical_table, start, end)
    return len({c.keys[KEY]["S"] for c in changes if c.keys.get(KEY, {}).get("S") in keys})


def _check(result: RepairStageResult, incident: Incident, now: dict[str, dict[str, Any]]) -> None:
    """Item for item: the damaged customers equal their state before T again, every sign-up after
    the window is there as written, and nothing else differs from before T."""
    before = incident.before
    result.repaired_exactly = sum(1 for key in incident.damaged if now.get(key) == before[key])
    signups = {str(s[KEY]): s for s in incident.signups}
    result.signups = len(signups)
    result.signups_kept = sum(1 for key, item in signups.items() if _plain(now.get(key)) == item)
    others = set(now) - set(signups)
    result.others_unchanged = others == set(before) and all(now[k] == before[k] for k in others)


def _run(emu: Emulator, stack: DeployedStack, request: dict[str, Any], name: str) -> dict[str, Any]:
    sfn = emu.clients.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["RepairStateMachineArn"], name=name, input=json.dumps(request)
    )["executionArn"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        described = dict(sfn.describe_execution(executionArn=arn))
        if described["status"] != "RUNNING":
            events: Any = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            stopped = described.get("stopDate")
            described["phases"] = phases(events, stopped if isinstance(stopped, datetime) else None)
            described["name"] = name
            return described
        time.sleep(0.05)
    sfn.stop_execution(executionArn=arn, error="DrillTimeout", cause="the drill gave up waiting")
    return {"name": name, "status": "TIMED_OUT", "error": "DrillTimeout"}


def repair_rto_parts(
    result: RepairStageResult, *, detect_minutes: float, real_items: int, sample_items: int
) -> list[RtoPart]:
    """The repair's RTO at the real table's size: the share of damaged items scales with it."""
    estimate = result.report.get("estimate") or {}
    written = max(1, int(estimate.get("writes") or result.damaged or 1))
    real_writes = int(written * real_items / max(1, sample_items))
    units = float(estimate.get("write_units") or written) / written * real_writes
    per_second = float(estimate.get("units_per_second") or 2000.0)
    in_window = (result.report.get("changes") or {}).get("in_window") or {}
    changes = sum(int(n) for n in in_window.values()) or written
    real_changes = changes * real_items // max(1, sample_items)
    # One plan holds at most REPAIR_MAX_CHANGES changes: a larger window is repaired in parts,
    # one after the other, each with its own backup.
    repairs = max(1, math.ceil(real_changes / MAX_CHANGES_PER_REPAIR))
    plan_seconds = real_changes / PLAN_CHANGES_PER_SECOND + real_writes / PLAN_KEYS_PER_SECOND
    settle = float(estimate.get("backup_settle_seconds") or 65)
    return [
        RtoPart(
            "detection and response, until the repair starts",
            detect_minutes * 60,
            "assumed",
            "--detect-minutes",
        ),
        RtoPart(
            "repair state machine on the emulator",
            sum(result.phases.values()),
            "measured",
            "plan, backup, writes, proof",
        ),
        RtoPart(
            "backup settle before the first write" + (f", x{repairs} repairs" if repairs > 1 else ""),
            settle * repairs,
            "assumed",
            "AWS: a backup excludes only writes made over a minute after its request",
        ),
        RtoPart(
            f"plan at {real_items:,} items",
            plan_seconds,
            "estimate",
            f"~{real_changes:,} archived changes at {PLAN_CHANGES_PER_SECOND:,}/s, {real_writes:,} keys "
            f"read at {PLAN_KEYS_PER_SECOND:,}/s"
            + (
                f"; the window split into {repairs} repairs of <= {MAX_CHANGES_PER_REPAIR:,} changes"
                if repairs > 1
                else ""
            ),
        ),
        RtoPart(
            f"{real_writes:,} writes at the table's capacity share",
            units / per_second,
            "estimate",
            f"{units:,.0f} write units at {per_second:,.0f}/s "
            f"({estimate.get('capacity_source', 'table capacity')})",
        ),
    ]


def render(
    result: RepairStageResult, parts: list[RtoPart], repair_rto: float, restore_rto: float | None
) -> str:
    """Both paths side by side, and when to choose which."""
    applied = result.report.get("applied") or {}
    rows = [
        ("time to recover (RTO)", duration(repair_rto), duration(restore_rto) if restore_rto else "-"),
        ("measured here", f"{result.seconds:.1f}s", "see the restore's report above"),
        (
            "good writes after T",
            f"{result.signups_kept}/{result.signups} kept in place",
            "lost from the table (replayable from the archive)",
        ),
        (
            "what is undone",
            f"{applied.get('written', 0)} keys changed in the window",
            "every write after the restore point",
        ),
        ("applications", "no change (same table)", "follow the live-table pointer to a new table"),
        ("needs", "the CDC archive covering the window", "PITR (and nothing else)"),
    ]
    choose = [
        "  choose the repair when the corruption is scoped to a window and the archive is healthy",
        "  (the plan proves it covers the window, or refuses);",
        "  choose the restore when the table is lost, the archive has a gap, or the blast radius is unknown.",
    ]
    made_of = " + ".join(f"{p.name} {duration(p.seconds)} ({p.kind})" for p in parts)
    return "\n".join(
        [
            "",
            "Repair in place vs PITR restore (same incident)",
            *("  " + line for line in table(("", "REPAIR IN PLACE", "PITR RESTORE"), rows).splitlines()),
            f"  repair RTO = {made_of}",
            *choose,
        ]
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A scanned item (DynamoDB JSON) as the application wrote it."""
    if item is None:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
