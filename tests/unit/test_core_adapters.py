"""Core adapters: the one builder of SSM paths, paginated backup listing, typed clients only."""

from __future__ import annotations

import ast
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from dynamodb_dr.core import paths
from dynamodb_dr.core.dynamo import DynamoControl
from dynamodb_dr_local import PROJECT_ROOT

CORE = PROJECT_ROOT / "layers/dynamodb_dr/dynamodb_dr/core"
# Tests that spell the documented path out on purpose (the contract applications rely on).
CONTRACT_TESTS = {"test_core_adapters.py", "test_config.py"}


def test_the_pointer_path_is_the_documented_contract():
    prefix = paths.stack_prefix("prod")
    assert prefix == "/dynamodb-dr/prod"
    assert paths.live_table_parameter(prefix, "orders") == "/dynamodb-dr/prod/tables/orders/live-table"
    assert paths.live_table_parameter(prefix + "/", "orders") == "/dynamodb-dr/prod/tables/orders/live-table"
    assert paths.policy_parameter(prefix) == "/dynamodb-dr/prod/policy"
    assert paths.pointers_prefix(prefix) == "/dynamodb-dr/prod/tables/"


@pytest.mark.parametrize(
    ("parameter", "logical"),
    [
        ("/dynamodb-dr/prod/tables/orders/live-table", "orders"),
        ("/dynamodb-dr/prod/tables/orders/other", None),
        ("/dynamodb-dr/prod/tables//live-table", None),
        ("/dynamodb-dr/prod/tables/a/b/live-table", None),
        ("/dynamodb-dr/dev/tables/orders/live-table", None),
        ("/dynamodb-dr/prod/policy", None),
    ],
)
def test_a_pointer_parameter_names_its_logical_table(parameter, logical):
    assert paths.logical_name_of("/dynamodb-dr/prod", parameter) == logical


def test_no_other_code_builds_the_pointer_path():
    """`core/paths.py` is the only place a `.../tables/<x>/live-table` string is put together."""
    offenders = []
    for root in ("layers", "cli", "functions", "tests", "bench"):
        for file in (PROJECT_ROOT / root).rglob("*.py"):
            if file == CORE / "paths.py" or file.name in CONTRACT_TESTS:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
                    if "/live-table" in text or "/tables/" in text:
                        offenders.append(f"{file.relative_to(PROJECT_ROOT)}:{node.lineno}")
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and "/tables/" in node.value
                    and node.value.endswith("/live-table")
                ):
                    offenders.append(f"{file.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not offenders, f"build SSM paths with dynamodb_dr.core.paths: {offenders}"


def _summary(name: str, table: str = "orders") -> dict:
    return {
        "TableName": table,
        "BackupArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/backup/{name}",
        "BackupName": name,
        "BackupCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC),
        "BackupStatus": "AVAILABLE",
        "BackupType": "USER",
    }


def test_list_user_backups_follows_every_page_with_the_paginator():
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        first = _summary("bk1")
        stub.add_response(
            "list_backups",
            {"BackupSummaries": [first], "LastEvaluatedBackupArn": first["BackupArn"]},
            {"BackupType": "USER", "TableName": "orders"},
        )
        stub.add_response(
            "list_backups",
            # An emulator that ignores the filters: another table's and a SYSTEM backup are dropped.
            {
                "BackupSummaries": [
                    _summary("bk2"),
                    _summary("bkx", "other"),
                    {**_summary("sys"), "BackupType": "SYSTEM"},
                ]
            },
            {"BackupType": "USER", "TableName": "orders", "ExclusiveStartBackupArn": first["BackupArn"]},
        )
        names = [b.name for b in DynamoControl(client).list_user_backups("orders")]
        stub.assert_no_pending_responses()
    assert names == ["bk1", "bk2"]


def test_core_adapters_take_typed_clients_not_any():
    """Every client parameter in core is annotated with a types-boto3 class."""
    for file in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg in node.args.args + node.args.kwonlyargs:
                    if arg.arg in {"client", "ssm", "dynamodb", "s3", "single_attempt_client"}:
                        annotation = ast.unparse(arg.annotation) if arg.annotation else "Any"
                        assert "Client" in annotation, f"{file.name}:{node.name}({arg.arg}: {annotation})"


def test_core_has_no_hand_written_pagination_loop():
    for file in CORE.glob("*.py"):
        source = file.read_text()
        for token in ("ExclusiveStart", "NextToken", "LastEvaluated"):
            assert token not in source, f"{file.name} paginates by hand ({token}); use get_paginator"


def test_mypy_sees_the_aws_stubs():
    """The typed overloads resolve: mypy flags a wrong parameter name on a core client call."""
    probe = PROJECT_ROOT / ".mypy_probe_core.py"
    probe.write_text(
        "from dynamodb_dr.core.aws import AwsClients\n"
        "AwsClients().client('dynamodb').describe_table(TableNam='x')\n"
    )
    try:
        result = subprocess.run(
            [str(Path(PROJECT_ROOT, ".venv/bin/mypy")), "--no-incremental", str(probe)],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            check=False,
        )
    finally:
        probe.unlink()
    assert result.returncode == 1 and "TableNam" in result.stdout, result.stdout
