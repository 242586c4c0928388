"""Suite 5: restore orchestration overhead on the emulator, per phase, at two table sizes.

The real restore state machine (statemachines/restore.asl.json) runs on moto's Step Functions
engine with the real handlers (in-process `Emulator()`), restoring the drill's customers table
to a point in time with automatic cutover. Phase times come from the execution history (state
entered -> exited timestamps of the top-level states); the phase of each state is looked up by
name below, and states this file does not know are reported as "other". Overhead = execution wall
time minus the time in DynamoDB's own restore (StartRestores .. restore ACTIVE). The baseline of
each row is the same phase at the smaller size, so the ratio shows how the phase grows.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from bench.harness import ROOT, Config, Row, na

SUITE = "restore orchestration"
ASL = ROOT / "statemachines" / "restore.asl.json"
PHASES = {
    "validate request": ("ValidateRequest", "IsRollback"),
    "DynamoDB restore": ("StartRestores", "InitPoll", "CheckRestores", "RestoresActive", "WaitForRestores"),
    "settings": ("ReapplySettings", "DiffSettings"),
    "validation": ("PlanValidation", "ScanSegments", "CompareValidation"),
    "cutover": ("CatchUpWanted", "CatchUp", "CutoverMode", "RequestApproval", "Cutover", "Report", "Done"),
}
ORDER = ("validate request", "settings", "validation", "cutover", "other")


def phase_of(state: str) -> str:
    return next((phase for phase, states in PHASES.items() if state in states), "other")


def phase_seconds(events: list[dict[str, Any]], top_level: set[str]) -> dict[str, float]:
    """Sum of (exited - entered) of every top-level state visit, by phase; plus 'wall'."""
    open_states: dict[str, datetime] = {}
    phases: dict[str, float] = {}
    started = ended = None
    for event in events:
        ts = event["timestamp"]
        if event["type"] == "ExecutionStarted":
            started = ts
        elif event["type"] in (
            "ExecutionSucceeded",
            "ExecutionFailed",
            "ExecutionAborted",
            "ExecutionTimedOut",
        ):
            ended = ts
        entered, exited = event.get("stateEnteredEventDetails"), event.get("stateExitedEventDetails")
        if entered and entered["name"] in top_level:
            open_states[entered["name"]] = ts
        elif exited and exited["name"] in open_states:
            seconds = (ts - open_states.pop(exited["name"])).total_seconds()
            phase = phase_of(exited["name"])
            phases[phase] = phases.get(phase, 0.0) + seconds
    if started and ended:
        phases["wall"] = (ended - started).total_seconds()
    return phases


def restore_once(count: int) -> tuple[dict[str, float], str]:
    from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
    from dynamodb_dr_local.emulator import Emulator

    top_level = set(json.loads(ASL.read_text())["States"])
    with Emulator() as emu:
        ddb = emu.clients.client("dynamodb")
        create_customers_table(ddb, "customers")
        ddb.update_continuous_backups(
            TableName="customers",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
        )
        load_customers(emu.clients.session_resource("dynamodb").Table("customers"), count)
        stack = emu.deploy(parameters={"ProtectedTables": "customers"})
        time.sleep(0.02)
        point = datetime.now(UTC)
        time.sleep(0.02)
        sfn = emu.clients.client("stepfunctions")
        request = {
            "tables": [{"logical": "customers"}],
            "restore_time": point.isoformat(),
            "cutover": "automatic",
            "validation": {"min_items": count},
        }
        arn = sfn.start_execution(
            stateMachineArn=stack.outputs["RestoreStateMachineArn"],
            name=f"bench-{count}",
            input=json.dumps(request),
        )["executionArn"]
        deadline = time.monotonic() + 900
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=arn, error="BenchTimeout")
                raise TimeoutError("restore still running after 900 s")
            time.sleep(0.1)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"restore {described['status']}: {str(described.get('cause'))[:120]}")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        scans = sum(
            1
            for inv in emu.router.invocations
            if isinstance(inv.event, dict) and inv.event.get("action") == "scan_segment"
        )
    return phase_seconds(events, top_level), f"{scans} scan_segment invocations"


def run(config: Config) -> list[Row]:
    small, large = config.size(1_000, 200), config.size(10_000, 1_000)
    results: dict[int, dict[str, float]] = {}
    details: dict[int, str] = {}
    try:  # warm-up: the first emulated invocations import the handler modules
        restore_once(50)
    except Exception as exc:
        return [na(SUITE, "restore on the emulator", "s", "-", f"{type(exc).__name__}: {exc}"[:160], "lower")]
    for count in (small, large):
        try:
            results[count], details[count] = restore_once(count)
        except Exception as exc:
            return [
                na(
                    SUITE,
                    f"overhead at {count:,} items",
                    "s",
                    f"{small:,} items",
                    f"{type(exc).__name__}: {exc}"[:160],
                    "lower",
                )
            ]
    rows = []
    a, b = results[small], results[large]
    for phase in ORDER:
        if phase not in a and phase not in b:
            continue
        rows.append(
            Row(
                SUITE,
                f"{phase}, {large:,} items",
                b.get(phase, 0.0),
                "s",
                f"same phase, {small:,} items",
                a.get(phase, 0.0),
                better="lower",
                runs=1,
            )
        )
    overhead = {n: r.get("wall", 0.0) - r.get("DynamoDB restore", 0.0) for n, r in results.items()}
    rows.append(
        Row(
            SUITE,
            f"overhead = wall - DynamoDB restore, {large:,} items",
            overhead[large],
            "s",
            f"same, {small:,} items",
            overhead[small],
            better="lower",
            runs=1,
            note=(
                f"wall {b.get('wall', 0):.1f} s vs {a.get('wall', 0):.1f} s; DynamoDB restore "
                f"{b.get('DynamoDB restore', 0):.2f} s vs {a.get('DynamoDB restore', 0):.2f} s; "
                f"{details[large]}; items x{large / small:g}"
            ),
        )
    )
    rows[0].note = (
        "execution-history timestamps, moto Step Functions + real handlers in process; the emulator "
        "runs one invocation at a time, so Map segments are serialized and validation is bound "
        "by moto's Scan serializer (not by our checksum, see the validation rows)"
    )
    return rows
