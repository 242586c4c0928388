"""Issue 21 item 6: what a restore does not carry over is checked before cutover (other stream
consumers, global-table replicas: accepted in the request or no cutover; on-demand and warm
throughput: re-created), and the stream follower never becomes a stream's third reader."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import invoke
from restore_support import deploy, live_table, make_table, run

from dynamodb_dr.restore.tables import restore_overrides
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration
AUTOMATIC = {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"}


@pytest.fixture
def stack(emu: Emulator) -> DeployedStack:
    make_table(emu, "customers", count=10)
    return deploy(emu, "customers")


def add_reader(emu: Emulator, function: str, table: str = "customers") -> None:
    stream = emu.clients.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    emu.clients.client("lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="LATEST", Enabled=True
    )


def test_another_stream_consumer_blocks_cutover_until_accepted(emu: Emulator, stack: DeployedStack) -> None:
    _, errored = invoke(emu, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert not errored  # the tool's own reader is not counted
    add_reader(emu, stack.physical("ExportFunction"))  # another team's consumer of the stream
    blocked = run(emu, stack, AUTOMATIC, "blocked")
    assert blocked["status"] == "FAILED" and blocked["error"] == "SettingsDiffRemaining"
    assert "stream_consumers" in blocked["cause"]
    assert live_table(emu, stack, "customers") == "customers"
    approval = run(emu, stack, {**AUTOMATIC, "cutover": "approval"}, "blocked-too")
    assert approval["status"] == "FAILED" and approval["error"] == "SettingsDiffRemaining"
    accepted = run(emu, stack, {**AUTOMATIC, "accept_setting_differences": ["stream_consumers"]}, "accepted")
    assert accepted["status"] == "SUCCEEDED", accepted.get("cause")
    assert json.loads(accepted["output"])["accepted_setting_differences"] == {
        "customers": ["stream_consumers"]
    }
    rehearsal = run(emu, stack, {**AUTOMATIC, "cutover": "none"}, "rehearsal-like")
    assert rehearsal["status"] == "SUCCEEDED", "a run that never cuts over only reports it"


@pytest.fixture
def global_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto has no global tables: the source describes itself with a replica in eu-west-1."""
    from moto.dynamodb.models.table import Table

    original = Table.describe

    def describe(table: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result: dict[str, Any] = original(table, base_key=base_key)
        if table.name == "customers":
            result[base_key]["Replicas"] = [{"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}]
        return result

    monkeypatch.setattr(Table, "describe", describe)


def test_a_global_table_replica_blocks_cutover_until_accepted(
    emu: Emulator, stack: DeployedStack, global_source: None
) -> None:
    blocked = run(emu, stack, AUTOMATIC, "blocked")
    assert blocked["status"] == "FAILED" and blocked["error"] == "SettingsDiffRemaining"
    assert "replicas" in blocked["cause"]
    accepted = run(emu, stack, {**AUTOMATIC, "accept_setting_differences": ["replicas"]}, "accepted")
    assert accepted["status"] == "SUCCEEDED", accepted.get("cause")


def test_on_demand_throughput_is_carried_by_the_restore_itself() -> None:
    source = {
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "OnDemandThroughput": {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "OnDemandThroughput": {"MaxReadRequestUnits": 10, "MaxWriteRequestUnits": 5},
            }
        ],
    }
    overrides = restore_overrides(source)
    assert overrides["OnDemandThroughputOverride"] == source["OnDemandThroughput"]
    assert overrides["GlobalSecondaryIndexOverride"][0]["OnDemandThroughput"] == {
        "MaxReadRequestUnits": 10,
        "MaxWriteRequestUnits": 5,
    }


def test_the_follower_never_becomes_a_streams_third_reader(emu: Emulator, stack: DeployedStack) -> None:
    add_reader(emu, stack.physical("ExportFunction"))
    add_reader(emu, stack.physical("PostureFunction"))
    payload, errored = invoke(emu, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert errored, payload
    archiver = stack.physical("CdcArchiverFunction")
    mappings = emu.clients.client("lambda").list_event_source_mappings(FunctionName=archiver)
    assert mappings["EventSourceMappings"] == []
    logs = emu.router.invocations[-1].logs
    assert "StreamReadersExceeded" in logs
