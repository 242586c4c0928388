"""A repair never puts an attribute value in a log line, a Lambda result, the execution history
or a notification: on its success path and on its failure path (a fault mid-apply)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from gates import report_gate
from test_no_customer_data_in_logs import CANARIES, leaks, sensitive_values

from dynamodb_dr.repair import apply as apply_module
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector, touches_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from repair_support import KEY, Rig, next_second

pytestmark = pytest.mark.integration


def test_no_attribute_value_in_a_repairs_logs_history_or_notifications(
    request: pytest.FixtureRequest, emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply_module, "MAX_ATTEMPTS", 3)  # the failure path, without real back-off time
    rig = Rig.create(emulator, stack)
    sqs, sns = emulator.clients.client("sqs"), emulator.clients.client("sns")
    url = sqs.create_queue(QueueName="notes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.outputs["RepairTopicArn"], Protocol="sqs", Endpoint=arn)
    table = rig.table
    for canary in CANARIES:
        table.put_item(Item=canary)
    t1 = next_second()
    bad: list[dict[str, Any]] = []
    for canary in CANARIES:
        bad_item = {**canary, "email": "corrupted-by-v42@example.net", "notes": "overwritten by deploy v42"}
        table.put_item(Item=bad_item)
        bad.append(bad_item)
    table.put_item(Item={KEY: "junk-created-in-window", "email": "junk-value@example.net"})
    t2 = next_second()
    rig.deliver()
    window = {"table": "customers", "from": t1.isoformat(), "to": t2.isoformat()}
    runs = [rig.run({**window, "dry_run": True}, "gate-dry"), rig.run(window, "gate-apply")]
    for bad_item in bad:  # corrupted again (as in the window), then the repair fails half-way
        table.put_item(Item=bad_item)
    with FaultInjector(seed=1) as faults:
        faults.server_error("dynamodb", "PutItem", when=touches_table("customers"))
        runs.append(rig.run(window, "gate-failed"))
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    sfn = emulator.clients.client("stepfunctions")
    history = [
        json.dumps(sfn.get_execution_history(executionArn=e, maxResults=1000)["events"], default=str)
        for e in rig.executions
    ]
    messages = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    invocations = [i for i in emulator.router.invocations if "Repair" in i.function_name]
    text = "\n".join(
        [*(p for i in invocations for p in (i.logs, json.dumps(i.result, default=str))), *history, *messages]
    )
    values = sensitive_values([*CANARIES, *bad]) | {"junk-value@example.net"}
    keys = {str(item[KEY]) for item in [*CANARIES, *bad]} | {"junk-created-in-window"}
    found = leaks(text, values - keys)
    report_gate(
        request,
        "no customer data in repairs",
        f"{len(invocations)} repair invocations, {len(history)} histories and {len(messages)} notifications "
        f"checked against {len(values - keys)} values: {len(found)} leaked",
    )
    assert len(messages) == 3 and len(invocations) >= 10
    assert not found, found
    # Keys appear in the notifications' sample (the operator needs them), never in the history.
    assert not leaks("\n".join([*history, *(i.logs for i in invocations)]), keys)
    assert leaks("\n".join(messages), keys)
