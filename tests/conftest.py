"""Shared fixtures: an emulated AWS account with the real stack deployed from template.yaml."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iam.plugin import iam_gate, iam_gate_session  # noqa: F401 - the IAM gate checks every test

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
EVENTS = PROJECT_ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An empty emulated account for tests that create their own tables and stack (the restore
    tests); at teardown it stops every state machine execution still running."""
    with Emulator() as emulator:
        yield emulator
        sfn = emulator.clients.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:  # never leave one running
            running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
            for ex in running["executions"]:
                sfn.stop_execution(executionArn=ex["executionArn"], error="TestTeardown")


@pytest.fixture
def exports(emulator: Emulator) -> Iterator[ExportEmulation]:
    """The emulator's S3 exports, recorded (and steerable) for the export tests."""
    with ExportEmulation() as emulation:
        yield emulation


@pytest.fixture
def customers(emulator: Emulator) -> str:
    """An existing application table (PITR off, streams on), as a user would have it."""
    create_customers_table(emulator.clients.client("dynamodb"), "customers")
    return "customers"


@pytest.fixture
def stack(emulator: Emulator, customers: str) -> DeployedStack:
    """The real template deployed into the emulator, protecting `customers`."""
    return emulator.deploy(parameters={"ProtectedTables": customers})


def invoke(emulator: Emulator, function_name: str, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Invoke a deployed function through the emulated Lambda API; returns (payload, errored)."""
    response = emulator.clients.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), bool(response.get("FunctionError"))


def project_path(*parts: str) -> Path:
    return PROJECT_ROOT.joinpath(*parts)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the one-line report of each security/reliability gate (see tests/gates.py)."""
    from gates import write_gate_summary

    write_gate_summary(terminalreporter)


def tag_as_restore_of(emulator: Emulator, table: str, logical: str, stack: str = "dynamodb-dr") -> None:
    """Tag a table a test created by hand the way the restore tags the tables it creates, so the
    stack's roles reach it (IAM grants them tables tagged dynamodb-dr:protect=<stack>)."""
    ddb = emulator.clients.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(
        ResourceArn=arn,
        Tags=[
            {"Key": "dynamodb-dr:protect", "Value": stack},
            {"Key": "dynamodb-dr:restored-from", "Value": logical},
        ],
    )
