"""`dynamodb-dr restore/approve/reject/rollback` against the emulator served over HTTP."""

from __future__ import annotations

import pytest
from restore_support import corrupt, deploy, figures, live_table, make_table, mark

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import restore as restore_command
from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


@pytest.fixture
def served():
    with Emulator(server=True) as emu:
        yield emu


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(restore_command, "POLL_SECONDS", 0.05)


def cli(emu: Emulator, *args: str) -> int:
    return main([*args, "--endpoint-url", str(emu.endpoint_url), "--stack", "dynamodb-dr"])


def test_restore_waits_for_approval_then_cuts_over_and_rolls_back(served, capsys):
    make_table(served, "customers", count=30)
    stack = deploy(served, "customers")
    before = figures(served, "customers")
    restore_point = mark()
    corrupt(served, "customers", [])
    served.clients.session_resource("dynamodb").Table("customers").put_item(
        Item={"customer_id": "bad-deploy", "email": "x@example.com"}
    )

    code = cli(served, "restore", "--table", "customers", "--time", restore_point.isoformat(), "--name", "r1")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "waiting for approval: `dynamodb-dr approve r1`" in out
    assert live_table(served, stack, "customers") == "customers", "no cutover before approval"

    assert cli(served, "approve", "r1") == 0, capsys.readouterr().out
    restored = live_table(served, stack, "customers")
    assert restored.startswith("customers-dr-")
    assert figures(served, restored) == before

    assert cli(served, "rollback", "r1") == 0, capsys.readouterr().out
    assert live_table(served, stack, "customers") == "customers"


def test_reject_leaves_the_live_table_alone(served, capsys):
    make_table(served, "customers", count=10)
    stack = deploy(served, "customers")
    assert cli(served, "restore", "--table", "customers", "--latest", "--name", "r2") == 0
    assert cli(served, "reject", "r2", "--cause", "wrong restore point") == 0
    assert "rejected r2" in capsys.readouterr().out
    assert live_table(served, stack, "customers") == "customers"


def test_expected_failures_are_one_line(served, capsys):
    make_table(served, "customers", count=5)
    deploy(served, "customers")
    assert cli(served, "approve", "no-such-execution") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-execution" in err[0]
    assert (
        main(
            [
                "restore",
                "--table",
                "customers",
                "--latest",
                "--endpoint-url",
                str(served.endpoint_url),
                "--stack",
                "not-deployed",
            ]
        )
        == 2
    )
    assert "not-deployed" in capsys.readouterr().err
