"""`dynamodb-dr preflight`: read-only account checks before the first deploy, each a one-line
finding with the fix, and what the deploy will change on the customer's tables."""

from __future__ import annotations

import pytest

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands.preflight import preflight
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


def lines(report) -> list[str]:
    return [f"{level} {text}" for level, text in report.lines]


def table_state(emulator: Emulator, name: str) -> tuple:
    ddb = emulator.clients.client("dynamodb")
    described = ddb.describe_table(TableName=name)["Table"]
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    tags = ddb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    return described.get("StreamSpecification"), pitr, tags


def test_it_prints_what_the_first_deploy_changes_and_changes_nothing(emulator, customers):
    ddb = emulator.clients.client("dynamodb")
    ddb.update_table(TableName=customers, StreamSpecification={"StreamEnabled": False})
    before = table_state(emulator, customers)
    report = preflight(emulator.clients, stack="dr-prod", names=(customers,))
    found = lines(report)
    assert report.errors == 0, found
    assert "CHANGE table customers: the deploy tags it dynamodb-dr:protect=dr-prod" in found
    assert any(
        f.startswith("CHANGE table customers: PITR is off; the first backup run turns it on") for f in found
    )
    assert any(
        f.startswith("CHANGE table customers: no stream; the stream follower turns it on") for f in found
    )
    assert any(f.startswith("OK no stack named dr-prod yet") for f in found)
    assert table_state(emulator, customers) == before  # read-only


def test_a_missing_table_and_an_empty_selection_are_errors_with_the_fix(emulator):
    report = preflight(emulator.clients, stack="dr-prod", names=("ghost",))
    assert "ERROR table ghost not found in this region: create it or remove it from ProtectedTables" in lines(
        report
    )
    empty = preflight(emulator.clients, stack="dr-prod", names=())
    assert any("nothing to protect" in f and "tag them" in f for f in lines(empty)), lines(empty)


def test_tagged_tables_are_found_and_a_table_of_another_stack_is_refused(emulator, customers):
    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "orders")
    for table, owner in (("customers", "dr-prod"), ("orders", "dr-dev")):
        arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dynamodb-dr:protect", "Value": owner}])
    report = preflight(emulator.clients, stack="dr-prod", names=("orders",))
    found = lines(report)
    assert "OK 1 table(s) tagged dynamodb-dr:protect=dr-prod (protected by tag)" in found
    assert any(f.startswith("ERROR table orders is protected by stack 'dr-dev'") for f in found), found
    assert not any("table customers: the deploy tags it" in f for f in found)  # already tagged


def test_a_stream_of_the_wrong_view_and_a_bad_stack_name_are_errors(emulator):
    emulator.clients.client("dynamodb").create_table(
        TableName="keys",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    report = preflight(emulator.clients, stack="x" * 73, names=("keys",))
    found = lines(report)
    assert any(f.startswith("ERROR stack name") and "72" in f for f in found), found
    assert any("streams KEYS_ONLY: the CDC archive needs NEW_AND_OLD_IMAGES" in f for f in found), found


def test_an_existing_stack_of_the_same_name_is_reported(emulator, stack):
    report = preflight(emulator.clients, stack=stack.name, names=("customers",))
    assert any(f.startswith(f"WARN stack {stack.name} exists") for f in lines(report)), lines(report)


def test_the_command_exits_1_on_errors_and_prints_one_line_each(emulator, capsys):
    code = main(["preflight", "--stack", "dr-prod", "--tables", "ghost"])
    out = capsys.readouterr().out
    assert code == 1
    assert "ERROR  table ghost not found in this region: create it or remove it from ProtectedTables" in out
    assert "1 error(s)" in out


@pytest.mark.parametrize(("unreserved", "level"), [(10, "WARN"), (900, "OK")])
def test_a_small_concurrency_quota_is_reported_with_the_fix(emulator, customers, unreserved, level):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("lambda", region_name="us-east-1")
    limits = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": unreserved}
    with Stubber(client) as stub:
        stub.add_response("get_account_settings", {"AccountLimit": limits})
        emulator.clients._cache["lambda"] = client
        report = preflight(emulator.clients, stack="dr-prod", names=(customers,))
    (line,) = [f for f in lines(report) if "Lambda concurrency" in f]
    assert line.startswith(level), line
    if level == "WARN":
        assert "request more" in line
