"""The emulator served over HTTP: what a user points the AWS CLI or boto3 at."""

from __future__ import annotations

import json

import boto3
import pytest

from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


def test_served_account_runs_the_real_handler_for_a_plain_boto3_client():
    with Emulator(server=True) as emu:
        assert emu.endpoint_url and emu.endpoint_url.startswith("http://127.0.0.1:")
        dynamodb = boto3.client("dynamodb", endpoint_url=emu.endpoint_url)
        create_customers_table(dynamodb)
        stack = emu.deploy(parameters={"ProtectedTables": "customers"})
        lambda_client = boto3.client("lambda", endpoint_url=emu.endpoint_url)
        response = lambda_client.invoke(
            FunctionName=stack.physical("BackupFunction"),
            Payload=json.dumps({"scheduled_time": "2026-11-26T03:00:00Z"}),
        )
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        names = [b["BackupName"] for b in dynamodb.list_backups()["BackupSummaries"]]
        [name] = names  # ddbdr-<table>-<tick>-<nonce of the request>
        assert name.startswith("ddbdr-customers-20261126T030000Z-")
        # The handler itself reached the server over HTTP, not an in-process mock.
        assert emu.router.invocations[-1].result["tables"][0]["backup"] == "created"
    with Emulator(server=True) as fresh:
        tables = boto3.client("dynamodb", endpoint_url=fresh.endpoint_url).list_tables()["TableNames"]
        assert tables == [], "a stopped server's account must not leak into the next one"
