"""Drill stage: a bad deploy corrupts the table at T; the restore state machine brings it back."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.replay import ReplayRequest, replay
from dynamodb_dr_local.commands.restore_follow import error_line, history, states_entered
from dynamodb_dr_local.drill.live import Application, Archiver
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

KEY = "customer_id"


@dataclass
class IncidentResult:
    incident_at: str = ""
    corrupted: int = 0
    deleted: int = 0
    good_writes_after_incident: int = 0
    execution: str = ""
    execution_status: str = ""
    execution_error: str = ""
    restore_report: dict[str, Any] = field(default_factory=dict)
    restore_seconds: float = 0.0
    live_table: str = ""
    items_expected: int = 0
    items_verified: int = 0
    mismatched_keys: int = 0
    replayable_good_writes: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # state -> time spent in it
    lost_writes: int = 0  # good writes after T that the restored table does not hold
    lost_span_seconds: float = 0.0  # how long after T the last of them was made
    lost_in_archive: int = 0

    @property
    def restored_exactly(self) -> bool:
        return (
            self.execution_status == "SUCCEEDED"
            and self.items_expected > 0
            and self.items_verified == self.items_expected
            and self.mismatched_keys == 0
        )


def scan_items(emu: Emulator, table_name: str) -> dict[str, dict[str, Any]]:
    """Every item of a table in DynamoDB JSON, by key."""
    paginator = emu.clients.client("dynamodb").get_paginator("scan")
    return {
        item[KEY]["S"]: item for page in paginator.paginate(TableName=table_name) for item in page["Items"]
    }


def run_incident(
    emu: Emulator,
    stack: DeployedStack,
    app: Application,
    archiver: Archiver,
    *,
    logical_table: str,
    corruption_share: float,
    good_writes_after: int,
    validation: dict[str, Any],
    detect_minutes: float,
    progress: Progress,
) -> IncidentResult:
    result = IncidentResult()
    before = scan_items(emu, logical_table)
    incident_at = _moment()
    result.incident_at = incident_at.isoformat()
    result.corrupted, result.deleted = _bad_deploy(emu, logical_table, sorted(before), corruption_share)
    progress.step(
        f"INCIDENT at {incident_at:%H:%M:%S.%f}: a bad deploy corrupted {result.corrupted:,} customers "
        f"and deleted {result.deleted:,}"
    )
    signups = [app.sign_up() for _ in range(good_writes_after)]
    result.good_writes_after_incident = len(signups)
    archiver.drain()
    progress.step(f"meanwhile {len(signups)} new customers signed up (good writes after the incident)")
    # On AWS, PITR's latest restorable time trails the clock by ~5 minutes: T is restorable only
    # later. The drill does not wait: the emulated clock of the restorable window jumps ahead.
    CONTROL.clock_offset_seconds = detect_minutes * 60
    # Stream records carry whole seconds, as on AWS, and the cutover's carry-over includes the
    # second the pointers switch. On AWS that second is minutes after T; here it could share T's
    # second, so the restore starts in the next one.
    time.sleep(1 - time.time() % 1)
    progress.step(
        f"the on-call engineer starts the restore {detect_minutes:g} min after T (simulated; PITR can "
        f"restore T only ~{CONTROL.latest_lag_seconds / 60:g} min after it)"
    )

    started = time.monotonic()
    execution = _restore(
        emu,
        stack,
        logical_table=logical_table,
        restore_point=incident_at,
        validation=validation,
        progress=progress,
    )
    result.restore_seconds = time.monotonic() - started
    result.execution = execution["name"]
    result.execution_status = execution["status"]
    result.execution_error = error_line(execution.get("error"), execution.get("cause"))
    result.restore_report = json.loads(execution.get("output") or "{}")
    result.phase_seconds = execution.get("phases", {})
    result.live_table = _live_table(emu, stack, logical_table)
    progress.step(
        f"restore {execution['status']} in {result.restore_seconds:.1f}s; live table -> {result.live_table}"
    )

    if result.execution_status == "SUCCEEDED":
        progress.step(f"verifying {result.live_table} item by item against the table just before T ...")
        restored = scan_items(emu, result.live_table)
        result.items_expected = len(before)
        result.items_verified = sum(1 for key, item in before.items() if restored.get(key) == item)
        result.mismatched_keys = len(set(before) ^ set(restored)) + sum(
            1 for key in set(before) & set(restored) if before[key] != restored[key]
        )
        progress.step(
            f"verified {result.items_verified:,}/{len(before):,} items equal to the pre-incident state"
        )
        lost = [item for item in signups if item[KEY] not in restored]
        result.lost_writes = len(lost)
        result.lost_in_archive, result.lost_span_seconds = _archived(
            emu, stack, logical_table, incident_at, lost
        )
        result.replayable_good_writes = _replay_good_writes(emu, stack, logical_table, incident_at, signups)
        progress.step(
            f"CDC archive replay of the window after T holds {result.replayable_good_writes}/{len(signups)} "
            "good sign-ups, ready to re-apply if wanted"
        )
    return result


def _archived(
    emu: Emulator, stack: DeployedStack, logical_table: str, since: datetime, lost: list[dict[str, Any]]
) -> tuple[int, float]:
    """How many of the lost writes the CDC archive holds, and how long after T the last was made."""
    from dynamodb_dr.cdc.archive import ArchiveStore, read_changes

    wanted = {item[KEY] for item in lost}
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    end = datetime.now(UTC) + timedelta(seconds=1)
    changes = [
        c
        for c in read_changes(store, logical_table, since - timedelta(seconds=1), end)
        if c.keys.get(KEY, {}).get("S") in wanted
    ]
    span = max(((c.approximate_creation - since).total_seconds() for c in changes), default=0.0)
    return len({c.keys[KEY]["S"] for c in changes}), max(0.0, span)


def _moment() -> datetime:
    """A whole second strictly between the writes before and after it: stream records are stamped
    to the whole second on AWS, so every write after it carries a time at or after it."""
    time.sleep(0.02)
    now = time.time()
    moment = math.floor(now) + 1.0
    time.sleep(moment - now + 0.02)
    return datetime.fromtimestamp(moment, UTC)


def _bad_deploy(emu: Emulator, table_name: str, keys: list[str], share: float) -> tuple[int, int]:
    rng = random.Random(99)
    victims = rng.sample(keys, max(2, int(len(keys) * share)))
    corrupt, delete = victims[: len(victims) * 3 // 4], victims[len(victims) * 3 // 4 :]
    table = emu.clients.session_resource("dynamodb").Table(table_name)
    with table.batch_writer() as batch:
        for key in corrupt:
            batch.put_item(Item={KEY: key, "email": "null@invalid", "name": "", "tier": "free", "balance": 0})
        for key in delete:
            batch.delete_item(Key={KEY: key})
    return len(corrupt), len(delete)


def _restore(
    emu: Emulator,
    stack: DeployedStack,
    *,
    logical_table: str,
    restore_point: datetime,
    validation: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    sfn = emu.clients.client("stepfunctions")
    name = f"drill-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    request = {
        "tables": [{"logical": logical_table}],
        "restore_time": restore_point.isoformat(),
        "cutover": "automatic",
        "validation": validation,
    }
    progress.step(
        f"starting restore state machine ({name}) to {restore_point:%H:%M:%S.%f}, automatic cutover"
    )
    arn = sfn.start_execution(
        stateMachineArn=stack.outputs["RestoreStateMachineArn"], name=name, input=json.dumps(request)
    )["executionArn"]
    seen: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = history(sfn, arn)
        for state in states_entered(events):
            if state not in seen:
                seen.add(state)
                progress.step(f"  state machine: {state}")
        described = dict(sfn.describe_execution(executionArn=arn))
        if described["status"] != "RUNNING":
            described["name"] = name
            stopped = described.get("stopDate")
            described["phases"] = phases(
                history(sfn, arn), stopped if isinstance(stopped, datetime) else None
            )
            return described
        time.sleep(0.2)
    sfn.stop_execution(executionArn=arn, error="DrillTimeout", cause="the drill gave up waiting")
    return {"name": name, "status": "TIMED_OUT", "error": "DrillTimeout"}


def phases(events: list[dict[str, Any]], stopped: datetime | None) -> dict[str, float]:
    """Seconds spent in each state (summed over loops), from the execution history's timestamps."""
    spent: dict[str, float] = {}
    entered = [
        (e["stateEnteredEventDetails"]["name"], e["timestamp"])
        for e in events
        if e.get("stateEnteredEventDetails")
    ]
    ends = [at for _, at in entered[1:]] + [stopped or (entered[-1][1] if entered else None)]
    for (state, start), end in zip(entered, ends, strict=True):
        if isinstance(start, datetime) and isinstance(end, datetime):
            spent[state] = spent.get(state, 0.0) + max(0.0, (end - start).total_seconds())
    return spent


def _live_table(emu: Emulator, stack: DeployedStack, logical_table: str) -> str:
    """The SSM pointer, read the way every command reads it (stack_lookup -> core's registry)."""
    from dynamodb_dr_local.stack_lookup import Stack

    view = Stack(stack.name, "drill", emu.clients, stack.outputs, stack.parameters)
    return view.live_table(logical_table)


def _replay_good_writes(
    emu: Emulator, stack: DeployedStack, logical_table: str, since: datetime, signups: list[dict[str, Any]]
) -> int:
    """Replay the archive from T into a review table; count the sign-ups found there intact."""
    from dynamodb_dr.cdc.archive import ArchiveStore

    dynamodb = emu.clients.client("dynamodb")
    review = f"{logical_table}-incident-review"
    dynamodb.create_table(
        TableName=review,
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    request = ReplayRequest(
        table=logical_table, start=since, end=datetime.now(UTC) + timedelta(seconds=1), target=review
    )
    replay(request, store, dynamodb, {_live_table(emu, stack, logical_table): logical_table})
    table = emu.clients.session_resource("dynamodb").Table(review)
    return sum(1 for item in signups if table.get_item(Key={KEY: item[KEY]}).get("Item") == item)
