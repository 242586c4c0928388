"""Issue 21 item 5 (end): tables left by cutovers and kept failed restores have a retention and a
clean-up command that never deletes a table that is live, pointed to, needed by a rollback, or not
the tool's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import invoke
from restore_support import deploy, live_table, make_table, run, table_names

from dynamodb_dr.core.config import Settings
from dynamodb_dr.restore.cleanup import Leftover, clean_up, leftovers
from dynamodb_dr.restore.cutover import CutoverLedger
from dynamodb_dr.restore.disposal import Disposal
from dynamodb_dr.restore.pointers import PointerRecords, Pointers
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration
AUTOMATIC = {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"}


@pytest.fixture
def served() -> Iterator[Emulator]:
    with Emulator(server=True) as emulator:
        yield emulator


def find_leftovers(emu: Emulator, stack: DeployedStack, retention: timedelta) -> list[Leftover]:
    settings = Settings(
        ssm_prefix=f"/dynamodb-dr/{stack.name}",
        protected_tables=("customers",),
        state_table=stack.outputs["StateTableName"],
    )
    ddb = emu.clients.client("dynamodb")
    return leftovers(
        settings,
        ddb,
        pointers=Pointers(emu.clients.client("ssm")),
        records=PointerRecords(ddb, settings.state_table),
        ledger=CutoverLedger(ddb, settings.state_table),
        now=datetime.now(UTC) + timedelta(seconds=1),
        retention=retention,
    )


def plan(emu: Emulator, stack: DeployedStack, days: int) -> dict[str, str]:
    return {f.table: f"{f.action}: {f.reason}" for f in find_leftovers(emu, stack, timedelta(days=days))}


def test_cleanup_deletes_only_the_tools_old_unneeded_tables(served: Emulator, capsys) -> None:
    emu = served
    make_table(emu, "customers", count=5)
    stack = deploy(emu, "customers")
    invoke(emu, stack.physical("RestorePointerFunction"), {"action": "publish"})
    assert run(emu, stack, AUTOMATIC, "first")["status"] == "SUCCEEDED"
    first = live_table(emu, stack, "customers")
    assert run(emu, stack, AUTOMATIC, "second")["status"] == "SUCCEEDED"
    second = live_table(emu, stack, "customers")
    failed = run(
        emu, stack, {**AUTOMATIC, "validation": {"expected": {"customers": {"item_count": 99}}}}, "failed"
    )
    assert failed["status"] == "FAILED"
    [kept] = [t for t in table_names(emu) if t.startswith("customers-dr-") and t not in {first, second}]
    create_customers_table(emu.clients.client("dynamodb"), "customers-dr-by-hand")

    verdicts = plan(emu, stack, days=0)
    assert verdicts[first].startswith("keep: a switched cutover's rollback would need it")
    assert verdicts[second].startswith("keep: a live-table pointer")
    assert verdicts["customers-dr-by-hand"].startswith("keep: not the tool's")
    assert verdicts[kept].startswith("delete")
    assert plan(emu, stack, days=14)[kept].startswith("keep: within the retention")

    # The command: a dry run first, then --apply.
    args = [
        "cleanup",
        "--older-than-days",
        "0",
        "--endpoint-url",
        str(emu.endpoint_url),
        "--stack",
        stack.name,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"delete   {kept}" in out and "dry run: nothing deleted" in out
    assert kept in table_names(emu)
    assert main([*args, "--apply", "--json"]) == 0
    done = {d["table"]: d["action"] for d in json.loads(capsys.readouterr().out)}
    assert done[kept] == "deleted" and kept not in table_names(emu)
    assert {first, second, "customers-dr-by-hand", "customers"} <= table_names(emu)

    # After rolling the second cutover back, its restored table is no longer needed.
    assert run(emu, stack, {"rollback": {"execution": "second"}}, "undo")["status"] == "SUCCEEDED"
    assert live_table(emu, stack, "customers") == first
    verdicts = plan(emu, stack, days=0)
    assert verdicts[second].startswith("delete") and verdicts[first].startswith("keep")
    ddb = emu.clients.client("dynamodb")
    disposal = Disposal(ddb, emu.clients.client("cloudwatch"), emu.clients.client("application-autoscaling"))
    clean_up(find_leftovers(emu, stack, timedelta(0)), disposal, apply=True)
    assert second not in table_names(emu) and first in table_names(emu)
