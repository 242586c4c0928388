"""`dynamodb-dr restore --resume <execution>` finishes a timed-out restore without restoring again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from restore_support import deploy, live_table, make_table, table_names

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import restore_follow
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture
def served():
    with Emulator(server=True) as emu:
        yield emu


def cli(emu: Emulator, *args: str) -> int:
    return main([*args, "--endpoint-url", str(emu.endpoint_url), "--stack", "dynamodb-dr"])


def test_resume_from_the_cli(served: Emulator, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(restore_follow, "POLL_SECONDS", 0.05)
    make_table(served, "customers", count=10)
    stack = deploy(served, "customers")
    CONTROL.creating_describes = 12  # outlasts a 1-minute limit, then becomes ACTIVE
    request = tmp_path / "slow.json"
    request.write_text(
        json.dumps(
            {
                "tables": [{"logical": "customers"}],
                "use_latest": True,
                "cutover": "automatic",
                "restore_timeout_minutes": 1,
            }
        )
    )
    assert cli(served, "restore", "--input", str(request), "--name", "slow") == 1
    assert "RestoreTimedOut" in capsys.readouterr().out
    [target] = [t for t in table_names(served) if t.startswith("customers-dr-")]
    code = cli(served, "restore", "--resume", "slow", "--cutover", "automatic", "--name", "slow-resumed")
    out = capsys.readouterr().out
    assert code == 0, out
    assert live_table(served, stack, "customers") == target
    assert len(CONTROL.restores) == 1, "no second restore"
