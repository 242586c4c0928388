"""Issue 13, backups: a person's backup is never adopted or pruned, every tick ends with a backup
or an alarming error, and retention ages backups by the current time (a future tick is refused)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_backup import backups, ledger, ours, put_claim, run, set_retention, tick, tick_id

from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector

pytestmark = pytest.mark.integration


def _errors(emulator: Emulator) -> list[str]:
    logs = emulator.router.invocations[-1].logs
    failed = [json.loads(line) for line in logs.splitlines() if '"table failed"' in line]
    return [e for f in failed for e in f["result"]["errors"]]


def test_a_persons_backup_made_between_attempts_is_never_adopted_nor_pruned(
    emulator: Emulator, stack: DeployedStack
) -> None:
    # The tick's first attempt: every CreateBackup is throttled, the tick fails (and alarms).
    with FaultInjector() as faults:
        faults.throttle("dynamodb", "CreateBackup")
        payload, errored = run(emulator, stack, tick())
    assert errored and payload["errorType"] == "BackupRunFailed"
    assert backups(emulator) == {}
    # Someone takes a backup named exactly like the tick, and like every request the attempt sent.
    ddb = emulator.clients.client("dynamodb")
    names = [f"ddbdr-customers-{tick_id()}"] + [
        params["BackupName"] for _, op, params in faults.calls if op == "CreateBackup"
    ]
    by_hand = {
        ddb.create_backup(TableName="customers", BackupName=n)["BackupDetails"]["BackupArn"] for n in names
    }
    # The retry makes its own backup and records only that one.
    payload, errored = run(emulator, stack, tick(attempt="2"))
    assert not errored, payload
    assert payload["tables"][0]["backup"] == "created"
    recorded = ledger(emulator, stack)["backup_arn"]["S"]
    assert recorded not in by_hand and recorded in set(backups(emulator).values())
    # Retention (1 day, keep 1) over later days never touches the person's backups.
    set_retention(
        emulator, stack, backup_retention_days=1, min_backups_kept=1, monthly_backup_retention_days=0
    )
    for day in (10, 20, 39):
        payload, errored = run(emulator, stack, tick(day))
        assert not errored, payload
    assert by_hand <= set(backups(emulator).values()), "a person's backup was pruned"
    assert recorded not in set(backups(emulator).values()), "the tool's own old backup was pruned"


def test_a_claim_held_by_a_dead_attempt_is_taken_over_once_its_lease_ends(
    emulator: Emulator, stack: DeployedStack
) -> None:
    put_claim(emulator, stack, lease=2)  # died holding the claim; its Lambda deadline is 2 s away
    payload, errored = run(emulator, stack, tick())
    assert not errored, payload
    assert payload["tables"][0]["backup"] == "created"
    assert len(ours(emulator, day=0)) == 1
    assert ledger(emulator, stack)["status"]["S"] == "CREATED"


def test_a_claim_held_longer_than_the_invocation_may_wait_is_an_alarming_error(
    emulator: Emulator, stack: DeployedStack
) -> None:
    put_claim(emulator, stack, lease=3600)
    payload, errored = run(emulator, stack, tick())
    assert errored and payload["errorType"] == "BackupRunFailed", payload
    assert any(e.startswith("BackupClaimHeld") for e in _errors(emulator))
    logs = emulator.router.invocations[-1].logs
    emf = [json.loads(line) for line in logs.splitlines() if '"BackupFailures"' in line]
    assert emf and emf[0]["BackupFailures"] == [1.0]
    assert backups(emulator) == {}


def test_a_live_holder_that_finishes_while_we_wait_is_not_duplicated(
    emulator: Emulator, stack: DeployedStack
) -> None:
    ddb = emulator.clients.client("dynamodb")
    put_claim(emulator, stack, lease=60)
    name = f"ddbdr-customers-{tick_id()}-feedface"

    def holder() -> None:
        time.sleep(1.0)
        arn = ddb.create_backup(TableName="customers", BackupName=name)["BackupDetails"]["BackupArn"]
        ddb.update_item(
            TableName=stack.physical("StateTable"),
            Key={"pk": {"S": "BACKUP#customers"}, "sk": {"S": tick_id()}},
            UpdateExpression="SET #s = :c, backup_arn = :a, backup_name = :n",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": "CREATED"}, ":a": {"S": arn}, ":n": {"S": name}},
        )

    thread = threading.Thread(target=holder)
    thread.start()
    payload, errored = run(emulator, stack, tick())
    thread.join()
    assert not errored, payload
    assert payload["tables"][0]["backup"] == "exists"
    assert list(backups(emulator)) == [name]


@pytest.mark.parametrize("ahead", [timedelta(days=40), timedelta(hours=1)])
def test_a_future_tick_is_refused_and_prunes_nothing(
    emulator: Emulator, stack: DeployedStack, ahead: timedelta
) -> None:
    set_retention(
        emulator, stack, backup_retention_days=3, min_backups_kept=1, monthly_backup_retention_days=0
    )
    for day in (38, 39, 40):  # within retention of today
        assert not run(emulator, stack, tick(day))[1]
    before = backups(emulator)
    future = datetime.now(UTC) + ahead
    event: dict[str, Any] = {"task": "backup", "scheduled_time": future.strftime("%Y-%m-%dT%H:%M:%SZ")}
    payload, errored = run(emulator, stack, event)
    assert errored and payload["errorType"] == "TickImplausible", payload
    assert backups(emulator) == before


def test_retention_ages_backups_by_the_current_time(emulator: Emulator, stack: DeployedStack) -> None:
    set_retention(
        emulator, stack, backup_retention_days=3, min_backups_kept=1, monthly_backup_retention_days=0
    )
    for day in (30, 36, 38, 39):
        assert not run(emulator, stack, tick(day))[1]
    # The last tick (day 39) is yesterday: day 36 is 4 days old, day 38 two days old.
    assert {day for day in (30, 36, 38, 39) if ours(emulator, day=day)} == {38, 39}
