"""The drill's CDC stage: the archive grows round by round and replays into a matching copy."""

from __future__ import annotations

import io

import pytest

from dynamodb_dr_local.drill.cdc import render, run_cdc_stage
from dynamodb_dr_local.drill.report import Progress
from dynamodb_dr_local.drill.workload import load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration


def test_archive_grows_while_the_workload_runs(emulator: Emulator, stack: DeployedStack) -> None:
    load_customers(emulator.clients.session_resource("dynamodb").Table("customers"), 40)
    result = run_cdc_stage(
        emulator,
        stack,
        logical_table="customers",
        rounds=3,
        writes_per_round=25,
        progress=Progress(io.StringIO()),
    )
    objects = [r.objects for r in result.rounds]
    sizes = [r.archive_bytes for r in result.rounds]
    assert objects == sorted(objects) and objects[0] >= 1 and sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert result.replay_matches and result.replayed_keys > 0
    assert "archive objects" in render(result)
