"""The drill's stuck-archiver scene (issue 20) on its own: caught in minutes, nothing lost once
fixed; and the same scene shows the loss when the mappings give up after no retries."""

from __future__ import annotations

import pytest

from dynamodb_dr_local.drill.freshness import STREAM_RETENTION_HOURS, render, run_freshness_stage
from dynamodb_dr_local.drill.live import Application
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.time_travel import CLOCK

pytestmark = pytest.mark.integration


def test_the_stuck_archiver_scene_recovers_with_the_archive_complete(
    emulator: Emulator, customers: str
) -> None:
    stack = emulator.deploy(parameters={"ProtectedTables": customers})
    result = run_freshness_stage(
        emulator, stack, Application(emulator, customers), logical_table=customers, progress=Progress()
    )
    assert result.green_before and result.caught_in_time
    # Posture's verdict (unarchived writes) and the failing-batches alarm both fire within minutes;
    # which is first depends on where the posture run's minute falls (either may tie at minute 3).
    assert result.first_alarm in {"CdcArchiveAtRisk", "CdcArchiverFailing"}
    assert result.first_alarm_minute is not None and result.first_alarm_minute <= 3
    assert result.alarms_raised["CdcArchiveAtRisk"] <= 5 < STREAM_RETENTION_HOURS * 60
    # The IteratorAge alarm follows once the stuck batch is older than the RPO (15 min).
    assert 15 <= result.alarms_raised["CdcIteratorAge"] <= 17
    assert result.alarms_raised["CdcArchiverFailing"] == 3
    assert result.backlog_archived == result.outage_writes > 0
    assert result.stream_records == result.outage_writes + 5  # plus the writes before the outage
    assert result.missing == result.duplicated == result.dead_lettered == 0
    assert result.nothing_lost and result.green_after_fix
    assert "CdcArchiveAtRisk" in render(result)
    assert CLOCK.offset.total_seconds() == 0  # later stages run on the wall clock


def test_mappings_that_give_up_at_once_lose_the_backlog_and_the_scene_says_so(
    emulator: Emulator, customers: str
) -> None:
    stack = emulator.deploy(parameters={"ProtectedTables": customers, "CdcMaxRetryAttempts": "0"})
    result = run_freshness_stage(
        emulator, stack, Application(emulator, customers), logical_table=customers, progress=Progress()
    )
    assert result.dead_lettered > 0 and result.missing > 0
    assert not result.nothing_lost
