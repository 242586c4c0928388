"""`dynamodb-dr repair` against the emulated stack: dry run, apply, undo, as an operator runs them."""

from __future__ import annotations

import json

import pytest
from repair_support import Rig, bad_deploy, iso, sign_ups

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import repair as repair_command
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration


def test_dry_run_then_repair_then_undo_from_the_command_line(
    emulator: Emulator,
    stack: DeployedStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    monkeypatch.setattr(repair_command, "POLL_SECONDS", 0.05)
    rig = Rig.create(emulator, stack)
    incident = bad_deploy(rig, after=sign_ups(2))
    corrupted = rig.items()
    window = ["--table", "customers", "--from", iso(incident.t1), "--to", iso(incident.t2)]

    assert main(["repair", *window, "--dry-run", "--name", "cli-dry"]) == 0
    out = capsys.readouterr()
    assert "repair cli-dry of customers (live table customers): dry-run" in out.out
    assert '{"customer_id":{"S":"bad0"}}' in out.out  # the sample of affected keys
    assert "estimate          8 writes" in out.out and "null@invalid" not in out.out
    assert "-> Plan" in out.err and rig.items() == corrupted

    assert main(["repair", *window, "--where", 'deploy_version = "v42"', "--name", "cli-fix", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "repaired" and report["keys"]["affected"] == 6  # 4 updates + 2 creations
    assert report["sample_keys"] and report["undo"]["cli"] == "dynamodb-dr repair --undo cli-fix"
    after = rig.items()
    assert all(after[k] == incident.before[k] for k in incident.corrupted)
    assert not set(incident.created) & set(after) and not set(incident.deleted) & set(after)

    assert main(["repair", "--undo", "cli-fix", "--name", "cli-undo"]) == 0
    assert "undone" in capsys.readouterr().out
    assert rig.items() == corrupted

    assert main(["repair", "--undo", "cli-fix", "--no-follow", "--name", "cli-undo-again"]) == 0
    assert capsys.readouterr().out.strip() == "cli-undo-again"
    described = rig.emulator.clients.client("stepfunctions").describe_execution(
        executionArn=stack.outputs["RepairStateMachineArn"].replace(":stateMachine:", ":execution:")
        + ":cli-undo-again"
    )
    assert described["name"] == "cli-undo-again"
    finished = repair_command.follow(emulator.clients.client("stepfunctions"), described["executionArn"])
    assert finished["status"] == "SUCCEEDED"  # nothing left to undo: every key already as before
    assert json.loads(finished["output"])["applied"]["written"] == 0 and rig.items() == corrupted
