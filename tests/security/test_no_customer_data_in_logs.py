"""No customer data in logs: every log line (and error/result payload, which lands in CloudWatch or
the Step Functions history) of every handler run on realistic events, error paths included, is
searched for every attribute value of every item in the application tables.

The backup function is driven through its success and failure paths; every other function in the
stack with a sample event in events/ (matched by name: functions/<dir> <-> events/*<dir>*.json) is
invoked with each of its events, so functions that land later are covered automatically."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from gates import report_gate
from security_support import day, deploy, invoke, run_execution, scan_all, stream_events, tick_event

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.drill.workload import load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector, touches_table

pytestmark = pytest.mark.integration

EVENTS = PROJECT_ROOT / "events"
MIN_VALUE_LENGTH = 4  # shorter values ("pro", "1", true) would match ordinary log text
CANARIES = [
    {
        "customer_id": "c0ffee00-canary-4000-8000-000000000001",
        "email": "zelda.quuxley+canary@example.org",
        "name": "Zelda Quuxley",
        "tier": "enterprise",
        "balance": Decimal("987654.32"),
        "city": "Ouagadougou",
        "marketing_opt_in": False,
        "tags": {"canary-tag-7731"},
        "address": {"street": "42 Canary Wharf Lane", "zip": "EC14-CANARY"},
        "national_id": "AB-123-456-C",
        "card_last4_and_name": "4111 1111 1111 1111 ZELDA Q",
        "notes": "prefers calls after 6pm; allergic to peanuts",
        "version": 1,
    }
]


def _values(value: Any) -> Iterator[str]:
    """Every scalar inside a DynamoDB (boto3 resource or low-level) attribute value."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in {
            "S",
            "N",
            "B",
            "BOOL",
            "NULL",
            "SS",
            "NS",
            "BS",
            "L",
            "M",
        }:
            yield from _values(next(iter(value.values())))
            return
        for inner in value.values():
            yield from _values(inner)
    elif isinstance(value, list | set | tuple):
        for inner in value:
            yield from _values(inner)
    elif isinstance(value, bool) or value is None:
        return
    else:
        yield str(value)


def sensitive_values(items: list[dict[str, Any]]) -> set[str]:
    return {v for item in items for v in _values(item) if len(v) >= MIN_VALUE_LENGTH}


def customer_data(emulator: Emulator, stack: DeployedStack) -> tuple[list[dict[str, Any]], set[str]]:
    """The application tables' items (the state table is the tool's own), and what must never
    reach a log: their values, the canaries' and the update written after the deploy."""
    state_table = stack.physical("StateTable")
    items: list[dict[str, Any]] = []
    for table in emulator.clients.client("dynamodb").list_tables()["TableNames"]:
        if table != state_table:
            items.extend(scan_all(emulator, table))
    return items, sensitive_values(items) | sensitive_values(CANARIES) | {"Quinn Updated-Canary"}


def leaks(text: str, values: set[str]) -> list[str]:
    """Values found in `text` as whole tokens (so '1234' does not match inside a timestamp)."""
    found = []
    for value in values:
        if value in text and re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text):
            found.append(value)
    return sorted(found)


def _sample_events(code_dir: str) -> list[Path]:
    token = code_dir.replace("_", "-")
    return sorted(p for p in EVENTS.glob("*.json") if re.search(rf"(^|-){re.escape(token)}(-|$)", p.stem))


@pytest.fixture
def populated(emulator: Emulator, customers: str) -> list[dict[str, Any]]:
    table = emulator.clients.session_resource("dynamodb").Table(customers)
    return load_customers(table, 200, seed=3)


def _write_after_deploy(emulator: Emulator) -> None:
    """Writes after the stack exists reach its stream consumers (CDC) with real item images."""
    table = emulator.clients.session_resource("dynamodb").Table("customers")
    for canary in CANARIES:
        table.put_item(Item=canary)
    more = load_customers(table, 10, seed=5)
    table.update_item(
        Key={"customer_id": more[0]["customer_id"]},
        UpdateExpression="SET #n = :n",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":n": "Quinn Updated-Canary"},
    )
    table.delete_item(Key={"customer_id": more[1]["customer_id"]})


def _drive_backup(emulator: Emulator, stack: DeployedStack) -> int:
    """The backup function on its success and failure paths; returns how many runs were made."""
    function = stack.physical("BackupFunction")
    ssm = emulator.clients.client("ssm")
    policy = stack.physical("PolicyParameter")
    runs: list[Any] = [
        tick_event(day(0)),  # customers protected; "ghost" is missing: TableNotFound path
        tick_event(day(0)),  # the same tick again: idempotent path
        tick_event(day(1), tables=["customers"]),
        tick_event(day(2), tables=["not-protected"]),  # TableNotProtected
        {"task": "backup", "scheduled_time": "not a time"},  # ValidationError
        {"task": "backup"},
    ]
    for event in runs:
        invoke(emulator, function, event)
    for document in (
        "{not json",
        '{"tables": {"customers": {"backup_retention_days": "forever"}}}',
        '{"tables": {"customers": ["Zelda Quuxley"]}, "extra": 1}',
        '{"tables": {"nobody": {}}}',
    ):
        ssm.put_parameter(Name=policy, Value=document, Type="String", Overwrite=True)
        invoke(emulator, function, tick_event(day(3)))
    ssm.put_parameter(Name=policy, Value='{"tables": {}}', Type="String", Overwrite=True)
    with FaultInjector(seed=9) as faults:
        faults.deny("dynamodb", "*", when=touches_table("customers"), times=1)
        invoke(emulator, function, tick_event(day(4)))
        faults.clear()
        faults.server_error("dynamodb", "CreateBackup")
        invoke(emulator, function, tick_event(day(5)))
        faults.clear()
        faults.throttle("dynamodb", "*")
        invoke(emulator, function, tick_event(day(6)))
    return len(runs) + 4 + 3


def test_no_attribute_value_appears_in_any_log_line(
    request: pytest.FixtureRequest, emulator: Emulator, populated: list[dict[str, Any]]
) -> None:
    stack = deploy(
        emulator,
        "customers,ghost",
        LogLevel="DEBUG",
        BackupRetentionDays="1",
        MinBackupsKept="1",
        MonthlyBackupRetentionDays="0",
    )
    _write_after_deploy(emulator)
    logical_of = {physical: logical for logical, physical in stack.resources.items()}
    stream_consumers = sorted(
        {logical_of.get(i.function_name, i.function_name) for i in emulator.router.invocations}
    )
    stream_runs = len(emulator.router.invocations)
    stream_batches = stream_events(emulator, "customers", [*CANARIES, *populated])
    runs = stream_runs + _drive_backup(emulator, stack)
    covered, skipped = ["BackupFunction", *stream_consumers], []
    for logical_id, code_dir in sorted(stack.template.code_dirs.items()):
        if logical_id in covered or logical_id not in stack.resources:
            continue
        if (
            stack.template.cloudformation["Resources"].get(logical_id, {}).get("Type")
            != "AWS::Lambda::Function"
        ):
            continue
        events: list[Any] = [json.loads(path.read_text()) for path in _sample_events(code_dir.name)]
        if not events:
            skipped.append(logical_id)  # no sample event: it still gets the synthetic stream batches
        covered.append(logical_id)
        for event in events + stream_batches:
            invoke(emulator, stack.physical(logical_id), event)
            runs += 1

    items, values = customer_data(emulator, stack)
    invocations = emulator.router.invocations
    text = "\n".join(part for inv in invocations for part in (inv.logs, json.dumps(inv.result, default=str)))
    lines = sum(inv.logs.count("\n") for inv in invocations)
    found = leaks(text, values)
    report_gate(
        request,
        "no customer data in logs",
        f"{lines} log lines of {len(invocations)} invocations ({', '.join(covered)}) checked against "
        f"{len(values)} values of {len(items)} items: {len(found)} leaked"
        + (f"; only synthetic stream batches for {', '.join(skipped)}" if skipped else ""),
    )
    assert len(invocations) >= runs and lines > 50, "the handlers ran and logged"
    assert any(inv.errored for inv in invocations), "error paths were exercised"
    assert len(items) >= len(populated), "the scanned items include the customers"
    assert not found, f"attribute values found in logs: {found[:20]}"


def test_the_detector_finds_a_leak() -> None:
    values = sensitive_values(CANARIES)
    assert leaks('{"message": "failed for Zelda Quuxley"}', values) == ["Zelda Quuxley"]
    assert leaks('{"item": {"balance": {"N": "987654.32"}}}', values) == ["987654.32"]
    assert leaks('{"at": "2026-11-26T12:34:56.987654321Z"}', values) == []
    assert leaks("item c0ffee00-canary-4000-8000-000000000001 written", values)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_no_attribute_value_appears_in_state_machine_runs(
    request: pytest.FixtureRequest, emulator: Emulator, populated: list[dict[str, Any]]
) -> None:
    """Every state machine with sample inputs in events/ (RestoreStateMachine <-> restore-*.json)
    runs them (approvals granted), and its handlers' logs and execution history are searched."""
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )  # restores need PITR (the backup function would turn it on)
    stack = deploy(emulator, "customers", LogLevel="DEBUG")
    _write_after_deploy(emulator)
    resources = stack.template.cloudformation["Resources"]
    machines = [
        logical
        for logical, spec in resources.items()
        if spec["Type"] == "AWS::StepFunctions::StateMachine" and logical in stack.resources
    ]
    runs: list[tuple[str, str]] = []
    for logical in machines:
        token = _kebab(logical.removesuffix("StateMachine"))
        for path in _sample_events(token):
            runs.append(
                (
                    logical,
                    run_execution(
                        emulator, stack.physical(logical), f"logs-gate-{path.stem}", path.read_text()
                    ),
                )
            )
    if not runs:
        pytest.skip("no state machine with sample inputs in events/ yet")
    sfn = emulator.clients.client("stepfunctions")
    history = [
        json.dumps(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"], default=str)
        for _, arn in runs
    ]
    statuses = sorted({sfn.describe_execution(executionArn=arn)["status"] for _, arn in runs})
    items, values = customer_data(emulator, stack)
    invocations = emulator.router.invocations
    text = "\n".join(
        [*(part for inv in invocations for part in (inv.logs, json.dumps(inv.result, default=str))), *history]
    )
    found = leaks(text, values)
    report_gate(
        request,
        "no customer data in state machine runs",
        f"{len(runs)} executions ({statuses}), {len(invocations)} task invocations and histories checked "
        f"against {len(values)} values of {len(items)} items: {len(found)} leaked",
    )
    assert "SUCCEEDED" in statuses, "at least one run restored data (the gate saw a real restore)"
    assert not found, f"attribute values found in logs or execution history: {found[:20]}"
