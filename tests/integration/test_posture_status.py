"""`dynamodb-dr status` against the emulated stack: the same posture as the posture function."""

from __future__ import annotations

import json

import pytest
from test_posture import enable_pitr

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table

pytestmark = pytest.mark.integration


def test_status_prints_each_table_and_exits_non_zero_when_one_is_at_risk(emulator, customers, capsys):
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    enable_pitr(emulator)  # customers: PITR on; orders: PITR off

    code = main(["status", "--stack", "dynamodb-dr"])

    out = capsys.readouterr().out
    assert code == 1
    lines = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.split() and line.split()[0] in {"customers", "orders"}
    }
    assert "on, lag" in lines["customers"] and "15.0m met" in lines["customers"]
    assert "AT_RISK" in lines["orders"] and "OFF" in lines["orders"] and "NOT MET" in lines["orders"]
    assert "orders: rto_history" not in out  # history was readable (just empty)


def test_status_json_is_the_posture_report(emulator, stack, capsys):
    enable_pitr(emulator)
    emulator.clients.client("dynamodb").delete_table(TableName="customers")

    code = main(["status", "--json", "--stack", stack.name])

    report = json.loads(capsys.readouterr().out)
    assert code == 1
    (customers,) = report["tables"]
    assert customers["status"] == "failed"
    assert customers["error"].startswith("TableNotFound")


def test_status_of_a_missing_stack_is_one_line(emulator, capsys):
    code = main(["status", "--stack", "nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "StackNotFound: stack 'nope' (from --stack) not found" in err


def test_status_against_the_emulator_server(capsys):
    from dynamodb_dr_local.emulator import Emulator

    with Emulator(server=True, port=0) as emu:
        create_customers_table(emu.clients.client("dynamodb"), "customers")
        emu.deploy(parameters={"ProtectedTables": "customers"})
        endpoint = ["--endpoint-url", emu.endpoint_url or "", "--region", "us-east-1"]
        code = main(["status", "--json", *endpoint, "--stack", "dynamodb-dr"])

    report = json.loads(capsys.readouterr().out)
    assert code == 1
    (customers,) = report["tables"]
    assert customers["live_table"] == "customers"
    assert customers["pitr"] == {
        "enabled": False,
        "earliest_restorable": None,
        "latest_restorable": None,
        "lag_seconds": None,
        "window_days": None,
    }
    assert customers["rpo_met"] is False
