"""`dynamodb-dr restore/follow/approve/reject/rollback/stop/restores` against the emulated stack."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from restore_support import corrupt, deploy, figures, live_table, make_table, mark, table_names

from dynamodb_dr.core import paths
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import restore_follow
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture
def served() -> Iterator[Emulator]:
    with Emulator(server=True) as emu:
        yield emu


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restore_follow, "POLL_SECONDS", 0.05)
    monkeypatch.delenv("DYNAMODB_DR_STACK", raising=False)


@pytest.fixture
def protected(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> DeployedStack:
    make_table(emu, "customers", count=20)
    stack = deploy(emu, "customers")
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)  # what `dynamodb-dr local` tells you to export
    return stack


def cli(emu: Emulator, *args: str) -> int:
    return main([*args, "--endpoint-url", str(emu.endpoint_url), "--stack", "dynamodb-dr"])


def pasted(hint: str) -> int:
    """Run a command line the CLI printed, exactly as an operator would paste it."""
    words = shlex.split(hint)
    assert words[0] == "dynamodb-dr"
    return main(words[1:])


def executions(emu: Emulator, stack: DeployedStack) -> list[str]:
    sfn = emu.clients.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.outputs["RestoreStateMachineArn"])["executions"]
    return [e["name"] for e in listed]


def wait_for_state(emu: Emulator, stack: DeployedStack, name: str, state: str, timeout: float = 60) -> None:
    sfn = emu.clients.client("stepfunctions")
    arn = restore_follow.execution_arn(stack.outputs["RestoreStateMachineArn"], name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state in restore_follow.states_entered(restore_follow.history(sfn, arn)):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never entered {state}")


def test_restore_waits_for_approval_then_the_pasted_hints_cut_over_and_roll_back(served, capsys):
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
    approve = out.split("`")[1]
    assert approve.startswith("dynamodb-dr approve r1 --stack dynamodb-dr --endpoint-url http://")
    assert live_table(served, stack, "customers") == "customers", "no cutover before approval"

    assert pasted(approve) == 0
    out = capsys.readouterr().out
    assert "r1 SUCCEEDED" in out and "restore point" in out and "customers-dr-" in out
    restored = live_table(served, stack, "customers")
    assert restored.startswith("customers-dr-")
    assert figures(served, restored) == before

    rollback = next(line for line in out.splitlines() if line.startswith("undo the cutover")).split("`")[1]
    assert pasted(rollback) == 0, capsys.readouterr()
    assert live_table(served, stack, "customers") == "customers"


def test_reject_leaves_the_live_table_alone(protected, emu, capsys):
    assert main(["restore", "--table", "customers", "--latest", "--name", "r2"]) == 0
    assert main(["reject", "r2", "--cause", "wrong restore point"]) == 0
    captured = capsys.readouterr()
    assert "rejected r2" in captured.err and "r2 FAILED after" in captured.out
    assert "ApprovalRejected" in captured.out  # moto drops send_task_failure's cause
    assert live_table(emu, protected, "customers") == "customers"


def _window_request(kind: str, tmp_path: Path) -> list[str]:
    if kind == "misspelled table":
        return ["--table", "custmers", "--latest"]
    if kind == "time after the window":
        return ["--table", "customers", "--time", (datetime.now(UTC) + timedelta(hours=1)).isoformat()]
    if kind == "time before the window":
        return ["--table", "customers", "--time", "2020-01-01T00:00:00Z"]
    if kind == "time without timezone":
        return ["--table", "customers", "--time", datetime.now(UTC).replace(tzinfo=None).isoformat()]
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps({"tables": [{"logical": "customers"}], "use_latest": True, "cutovr": "none"})
    )
    return ["--input", str(request)]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "misspelled table",
            "TableNotProtected: table 'custmers' is not protected by stack dynamodb-dr; "
            "did you mean 'customers'?",
        ),
        ("time after the window", "RestoreRequestInvalid: restore time"),
        ("time before the window", "is outside the restorable window; restorable window of customers"),
        ("time without timezone", "has no timezone: add Z for UTC"),
        ("unknown field", "unknown field 'cutovr' (did you mean 'cutover'?)"),
    ],
)
def test_bad_requests_are_refused_in_one_line_before_any_execution_starts(
    protected, emu, capsys, tmp_path, kind, expected
):
    code = main(["restore", *_window_request(kind, tmp_path), "--name", "refused"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and expected in err[0], err
    if kind != "misspelled table":
        assert "restorable window of customers (live table customers): " in err[0]
    assert executions(emu, protected) == [], "nothing may start"


def test_table_without_a_time_is_refused_rather_than_restoring_the_corruption(protected, emu, capsys):
    assert main(["restore", "--table", "customers"]) == 2
    assert "--time <ISO 8601 with timezone> or --latest" in capsys.readouterr().err
    assert executions(emu, protected) == []


def test_cutover_flag_is_applied_over_the_input_file_and_said(protected, emu, capsys, tmp_path):
    request = tmp_path / "latest.json"
    request.write_text(
        json.dumps({"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "approval"})
    )
    assert main(["restore", "--input", str(request), "--cutover", "none", "--name", "r3"]) == 0
    captured = capsys.readouterr()
    assert "--cutover none replaces the file's cutover 'approval'" in captured.err
    assert "r3 SUCCEEDED" in captured.out and "not-switched (none)" in captured.out
    assert live_table(emu, protected, "customers") == "customers"


def test_a_taken_execution_name_is_one_line_with_a_hint(protected, capsys):
    assert main(["restore", "--table", "customers", "--latest", "--cutover", "none", "--name", "twice"]) == 0
    capsys.readouterr()
    assert main(["restore", "--table", "customers", "--latest", "--cutover", "none", "--name", "twice"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("dynamodb-dr: ExecutionAlreadyExists: an execution named 'twice' already exists")
    assert "`dynamodb-dr follow twice`" in line


def test_a_failed_restore_prints_error_name_and_message_not_a_stack_trace(protected, capsys, tmp_path):
    request = tmp_path / "strict.json"
    request.write_text(
        json.dumps(
            {
                "tables": [{"logical": "customers"}],
                "use_latest": True,
                "cutover": "automatic",
                "on_failure": "delete",
                "validation": {"min_items": 10**9},
            }
        )
    )
    assert main(["restore", "--input", str(request), "--name", "strict"]) == 1
    out = capsys.readouterr().out
    assert "strict FAILED after" in out and ": RestoreValidationFailed: " in out, out
    assert "stackTrace" not in out and "Traceback" not in out and '{"errorType"' not in out
    assert "clean-up: customers-dr-" in out and "deleted" in out, out


def test_stop_before_cutover_ends_the_restore_and_cleans_up_per_policy(protected, emu, capsys, tmp_path):
    CONTROL.creating_describes = -1  # DynamoDB takes its time: the restored table stays CREATING
    request = tmp_path / "slow.json"
    request.write_text(
        json.dumps(
            {
                "tables": [{"logical": "customers"}],
                "use_latest": True,
                "cutover": "automatic",
                "on_failure": "delete",
                "restore_timeout_minutes": 10080,
            }
        )
    )
    assert main(["restore", "--input", str(request), "--name", "slow", "--no-follow"]) == 0
    wait_for_state(emu, protected, "slow", "WaitForRestores")
    restored = next(t for t in table_names(emu) if t.startswith("customers-dr-"))

    assert main(["stop", "slow"]) == 0
    out = capsys.readouterr().out
    # DynamoDB refuses DeleteTable while a table is CREATING: it is kept, tagged for `cleanup`.
    assert "stopped slow before its cutover" in out, out
    assert f"clean-up: {restored} kept (tagged restore-status=FAILED (still CREATING" in out, out
    tags = emu.clients.client("dynamodb").list_tags_of_resource(
        ResourceArn=emu.clients.client("dynamodb").describe_table(TableName=restored)["Table"]["TableArn"]
    )["Tags"]
    assert {"Key": "dynamodb-dr:restore-status", "Value": "FAILED"} in tags
    assert live_table(emu, protected, "customers") == "customers"
    sfn = emu.clients.client("stepfunctions")
    arn = restore_follow.execution_arn(protected.outputs["RestoreStateMachineArn"], "slow")
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described.get("error")) == ("ABORTED", "RestoreStopped")


def test_stop_after_cutover_is_refused_and_points_to_rollback(protected, emu, capsys):
    assert (
        main(["restore", "--table", "customers", "--latest", "--cutover", "automatic", "--name", "done"]) == 0
    )
    capsys.readouterr()
    assert main(["stop", "done"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "StopRefused: 'done' has entered Cutover" in line and "`dynamodb-dr rollback done`" in line
    assert live_table(emu, protected, "customers").startswith("customers-dr-")


def test_ctrl_c_says_the_restore_goes_on_and_follow_picks_it_up(protected, emu, capsys, monkeypatch):
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(restore_follow.time, "sleep", interrupt)
        code = main(["restore", "--table", "customers", "--latest", "--cutover", "automatic", "--name", "bg"])
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("dynamodb-dr:")]
    assert code == 130
    assert "the execution goes on in AWS" in line
    assert "`dynamodb-dr follow bg`" in line and "`dynamodb-dr stop bg`" in line
    assert main(["follow", "bg"]) == 0
    assert "bg SUCCEEDED" in capsys.readouterr().out
    assert live_table(emu, protected, "customers").startswith("customers-dr-")


def test_a_failed_rollback_can_be_retried_under_a_new_name(protected, emu, capsys):
    assert (
        main(["restore", "--table", "customers", "--latest", "--cutover", "automatic", "--name", "r4"]) == 0
    )
    restored = live_table(emu, protected, "customers")
    ssm = emu.clients.client("ssm")
    pointer = paths.live_table_parameter(paths.stack_prefix(protected.name), "customers")
    ssm.put_parameter(Name=pointer, Value="customers-moved-by-hand", Overwrite=True)
    assert main(["rollback", "r4"]) == 1
    assert "CutoverConflict: " in capsys.readouterr().out

    ssm.put_parameter(Name=pointer, Value=restored, Overwrite=True)
    assert main(["rollback", "r4"]) == 0
    assert "rolled back r4" in capsys.readouterr().out
    assert live_table(emu, protected, "customers") == "customers"
    rollbacks = [n for n in executions(emu, protected) if n.startswith("rollback-r4-")]
    assert len(rollbacks) == 2 and len(set(rollbacks)) == 2


def test_restores_lists_recent_executions_with_their_status(protected, capsys):
    assert main(["restore", "--table", "customers", "--latest", "--name", "waits"]) == 0
    assert (
        main(["restore", "--table", "customers", "--latest", "--cutover", "none", "--name", "rehearse"]) == 0
    )
    capsys.readouterr()
    assert main(["restores"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "WAITING_APPROVAL" in rows["waits"] and "SUCCEEDED" in rows["rehearse"]
    assert main(["restores", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["rehearse", "waits"]
    assert listed[0]["detail"] == "to latest; cutover not-switched"
    assert main(["reject", "waits"]) == 0


def test_unknown_executions_are_one_line(protected, capsys):
    for command in (["approve", "nope"], ["follow", "nope"], ["stop", "nope"], ["rollback", "nope"]):
        assert main(command) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "ExecutionDoesNotExist: no execution named 'nope'" in line and "dynamodb-dr restores" in line
