"""The backup run's DR-region replica guard (parameter DrReplicaRegion)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import invoke

from dynamodb_dr.backup.run import BackupDependencies, TableBackupResult, _guard_replica
from dynamodb_dr.core.config import TablePolicy
from dynamodb_dr.core.events import ScheduleTick

pytestmark = pytest.mark.integration
TICK = {"task": "backup", "scheduled_time": "2026-11-01T03:00:00Z"}


def test_missing_replica_is_added_in_the_dr_region(emulator, customers, monkeypatch):
    calls: list[dict[str, Any]] = []
    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "UpdateTable":
            calls.append(params)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    stack = emulator.deploy(parameters={"ProtectedTables": customers, "DrReplicaRegion": "eu-west-1"})
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert not errored, payload
    assert payload["tables"][0]["replica"] == "added"
    assert calls == [{"TableName": "customers", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]}]


def test_no_dr_region_means_no_replica_calls(emulator, stack):
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert not errored and payload["tables"][0]["replica"] == "off"


def test_a_bad_region_in_the_policy_is_a_policy_error_and_adds_nothing(emulator, stack):
    emulator.clients.client("ssm").put_parameter(
        Name=stack.physical("PolicyParameter"),
        Value=json.dumps({"tables": {"customers": {"dr_replica_region": "mars-1"}}}),
        Type="String",
        Overwrite=True,
    )
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert errored and payload["errorType"] == "BackupRunFailed"
    assert (
        "Replicas" not in emulator.clients.client("dynamodb").describe_table(TableName="customers")["Table"]
    )


class _FakeDynamo:
    def __init__(self, replicas: list[dict[str, str]]) -> None:
        self.replicas = replicas
        self.added: list[tuple[str, str]] = []

    def describe_table(self, table: str) -> dict[str, Any]:
        return {"TableName": table, "Replicas": self.replicas}

    def add_replica(self, table: str, region: str) -> None:
        self.added.append((table, region))


@pytest.mark.parametrize(
    ("replicas", "expected", "added"),
    [
        ([{"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}], "active", []),
        ([{"RegionName": "eu-west-1", "ReplicaStatus": "CREATING"}], "creating", []),
        ([{"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE"}], "added", [("customers", "eu-west-1")]),
        ([], "added", [("customers", "eu-west-1")]),
    ],
)
def test_replica_guard_adds_only_a_missing_replica(replicas, expected, added):
    dynamo = _FakeDynamo(replicas)
    result = TableBackupResult("customers", live_table="customers")
    deps = BackupDependencies(registry=None, dynamo=dynamo, ledger=None)  # type: ignore[arg-type]
    tick = ScheduleTick.model_validate(TICK)
    _guard_replica(result, tick, TablePolicy(dr_replica_region="eu-west-1"), deps)
    assert result.replica == expected
    assert dynamo.added == added
