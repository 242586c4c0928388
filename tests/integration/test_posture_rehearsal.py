"""Restore rehearsals against the real restore state machine (statemachines/restore.asl.json)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import invoke, load_event
from test_posture import enable_pitr, run_posture, table

from dynamodb_dr.posture.rto_history import RtoHistoryStore
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration
TICK = load_event("scheduler-rehearsal.json")
FOLLOW_UP = load_event("scheduler-rehearsal-follow-up.json")
SCRATCH = "customers-dr-rehearsal-20261201040000"


def rehearse(emulator: Emulator, stack: DeployedStack, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    return invoke(emulator, stack.physical("RehearsalFunction"), event)


def wait_for_execution(emulator: Emulator, arn: str) -> dict[str, Any]:
    sfn = emulator.clients.client("stepfunctions")
    for _ in range(600):  # the emulated execution runs in a background thread
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError(f"execution {arn} still running")


def tables(emulator: Emulator) -> list[str]:
    return list(emulator.clients.client("dynamodb").list_tables()["TableNames"])


def test_rehearsal_runs_the_real_restore_records_rto_and_cleans_up(emulator, stack, capsys):
    enable_pitr(emulator)
    load_customers(emulator.clients.session_resource("dynamodb").Table("customers"), 40)
    store = RtoHistoryStore(emulator.clients.client("dynamodb"), stack.physical("StateTable"))

    payload, errored = rehearse(emulator, stack, TICK)
    assert not errored, payload
    assert payload["started"] == ["customers"]
    (record,) = store.history("customers")
    assert record.target == SCRATCH
    execution = wait_for_execution(emulator, record.execution_arn or "")
    assert execution["status"] == "SUCCEEDED", execution
    assert SCRATCH in tables(emulator)  # the restore made the scratch table; cutover was "none"

    # A retried tick does not start a second restore.
    again, errored = rehearse(emulator, stack, {**TICK, "attempt": "2"})
    assert not errored and again["existing"] == ["customers"] and again["started"] == []

    payload, errored = rehearse(emulator, stack, FOLLOW_UP)
    assert not errored, payload
    (done,) = payload["finished"]
    assert done["status"] == "SUCCEEDED"
    assert done["cleanup"] == "deleted"
    assert done["measured_seconds"] > 0
    assert SCRATCH not in tables(emulator)
    assert "customers" in tables(emulator)
    pointers = emulator.clients.client("ssm").get_parameters_by_path(Path="/dynamodb-dr/", Recursive=True)
    assert not [p for p in pointers["Parameters"] if p["Name"].endswith("/live-table")]  # never cut over

    # The measured restore time is the table's RTO history: within the 60 min objective.
    report, docs = run_posture(emulator, stack)
    posture = table(report, "customers")
    assert posture["rto"]["latest_seconds"] == done["measured_seconds"]
    assert posture["rto_met"] is True
    assert docs[("customers",)]["MeasuredRtoSeconds"] == [done["measured_seconds"]]
    assert docs[("customers",)]["RtoMet"] == [1.0]
    assert docs[()]["TablesRtoNotMet"] == [0.0]
    # ... and `dynamodb-dr status` shows the history.
    capsys.readouterr()
    main(["status", "--stack", stack.name])
    assert "rehearsals of customers: 20261201 succeeded" in capsys.readouterr().out


def test_a_failed_rehearsal_is_recorded_and_alarms(emulator, stack):
    # PITR is off: the restore's validation step rejects the request and the execution fails.
    payload, errored = rehearse(emulator, stack, TICK)
    assert not errored, payload
    store = RtoHistoryStore(emulator.clients.client("dynamodb"), stack.physical("StateTable"))
    execution = wait_for_execution(emulator, store.history("customers")[0].execution_arn or "")
    assert execution["status"] == "FAILED"

    payload, errored = rehearse(emulator, stack, FOLLOW_UP)
    assert not errored, payload
    (done,) = payload["finished"]
    assert done["status"] == "FAILED"
    assert done["cleanup"].startswith("none: not present")
    _, docs = run_posture(emulator, stack)
    assert docs[("customers",)]["RehearsalFailures"] == [1.0]
    assert docs[()]["RehearsalFailures"] == [1.0]


def test_follow_up_never_deletes_a_table_the_rehearsal_did_not_create(emulator, stack):
    """A table with the scratch name but not tagged by the rehearsal's execution is left alone."""
    enable_pitr(emulator)
    store = RtoHistoryStore(emulator.clients.client("dynamodb"), stack.physical("StateTable"))
    payload, _ = rehearse(emulator, stack, TICK)
    arn = store.history("customers")[0].execution_arn or ""
    wait_for_execution(emulator, arn)
    ddb = emulator.clients.client("dynamodb")
    scratch_arn = ddb.describe_table(TableName=SCRATCH)["Table"]["TableArn"]
    ddb.untag_resource(ResourceArn=scratch_arn, TagKeys=["dynamodb-dr:restore-execution"])
    ddb.tag_resource(
        ResourceArn=scratch_arn, Tags=[{"Key": "dynamodb-dr:restore-execution", "Value": "someone-else"}]
    )

    payload, errored = rehearse(emulator, stack, FOLLOW_UP)

    assert not errored, payload
    assert payload["finished"][0]["cleanup"] == "none: not created by this rehearsal"
    assert SCRATCH in tables(emulator)
