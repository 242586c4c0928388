"""A fleet larger than one chunk: scheduled runs split into one asynchronous run per chunk, and
tables tagged for the stack are protected without being named."""

from __future__ import annotations

import pytest
from conftest import invoke

from dynamodb_dr.core import fleet
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import TableNotProtected
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration
TICK = {"task": "backup", "scheduled_time": "2026-11-01T03:00:00Z"}


def tag_for(emulator: Emulator, table: str, stack: str = "dynamodb-dr") -> None:
    ddb = emulator.clients.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dynamodb-dr:protect", "Value": stack}])


def backups(emulator: Emulator) -> set[str]:
    listed = emulator.clients.client("dynamodb").list_backups()["BackupSummaries"]
    return {b["TableName"] for b in listed}


def test_a_table_tagged_for_the_stack_is_protected_without_being_named(emulator, customers):
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    tag_for(emulator, "orders")
    create_customers_table(emulator.clients.client("dynamodb"), "invoices")
    tag_for(emulator, "invoices", stack="someone-else")
    stack = emulator.deploy(parameters={"ProtectedTables": customers})
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert not errored, payload
    assert {t["logical_name"] for t in payload["tables"]} == {"customers", "orders"}
    assert backups(emulator) == {"customers", "orders"}  # never another stack's table


def test_a_stack_naming_no_table_protects_exactly_the_tagged_ones(emulator, customers):
    tag_for(emulator, customers)
    stack = emulator.deploy(parameters={"ProtectedTables": ""})
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert not errored, payload
    assert [t["logical_name"] for t in payload["tables"]] == ["customers"]


def test_a_fleet_larger_than_a_chunk_fans_out_one_run_per_chunk(emulator, customers, monkeypatch):
    ddb = emulator.clients.client("dynamodb")
    for name in ("orders", "invoices"):
        create_customers_table(ddb, name)
        tag_for(emulator, name)
    stack = emulator.deploy(parameters={"ProtectedTables": customers})
    monkeypatch.setenv(fleet.CHUNK_SIZE_VARIABLE, "2")
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), TICK)
    assert not errored, payload
    assert payload["fanned_out"] == 2
    assert sorted(t for chunk in payload["chunks"] for t in chunk) == ["customers", "invoices", "orders"]
    children = [i for i in emulator.router.invocations if i.event.get("tables")]
    assert sorted(tuple(i.event["tables"]) for i in children) == sorted(tuple(c) for c in payload["chunks"])
    assert all(i.event["scheduled_time"] == TICK["scheduled_time"] and not i.errored for i in children)
    assert backups(emulator) == {"customers", "orders", "invoices"}  # each table once, by its chunk


def test_a_chunk_naming_an_unprotected_table_is_refused():
    settings = Settings(ssm_prefix="/dynamodb-dr/s", protected_tables=("customers",), state_table="t")
    assert fleet.only_tables(settings, {}).protected_tables == ("customers",)
    with pytest.raises(TableNotProtected):
        fleet.only_tables(settings, {"tables": ["payments"]})


@pytest.mark.parametrize("bad", ["0", "101", "many"])
def test_a_bad_chunk_size_is_a_named_configuration_error(bad):
    from dynamodb_dr.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        fleet.chunk_size({fleet.CHUNK_SIZE_VARIABLE: bad})


def test_overlapping_follower_runs_treat_the_other_runs_mapping_as_theirs(emulator, stack, monkeypatch):
    """Without reserved concurrency two follower runs may overlap: Lambda refuses the second mapping
    of a stream (ResourceConflictException), which must not fail the run."""
    import botocore.client
    import botocore.exceptions

    real_call = botocore.client.BaseClient._make_api_call

    def conflicting(self, operation, params):
        if operation == "CreateEventSourceMapping":
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ResourceConflictException", "Message": "mapping already exists"}},
                operation,
            )
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", conflicting)
    payload, errored = invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert not errored, payload
