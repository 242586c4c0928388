"""The posture function, invoked through the emulated Lambda API against real emulated state."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import invoke, load_event

from dynamodb_dr.cdc.model import partition_prefix
from dynamodb_dr.exports.chain import ExportChainStore, ExportRecord
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import ACCOUNT_ID, REGION, DeployedStack, Emulator
from dynamodb_dr_local.emulator.pitr import CONTROL, ENABLED_ATTR

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _pitr_lag() -> Iterator[None]:
    saved = CONTROL.latest_lag_seconds
    yield
    CONTROL.latest_lag_seconds = saved


def run_posture(
    emulator: Emulator, stack: DeployedStack
) -> tuple[dict[str, Any], dict[tuple[str, ...], dict[str, Any]]]:
    """Invoke the posture function; returns its report and its EMF documents by dimension values."""
    payload, errored = invoke(
        emulator, stack.physical("PostureFunction"), load_event("scheduler-posture.json")
    )
    assert not errored, payload
    docs: dict[tuple[str, ...], dict[str, Any]] = {}
    for line in emulator.router.invocations[-1].logs.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        dims = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DynamoDBDR/dynamodb-dr"  # per stack
        docs[tuple(doc[d] for d in dims if d != "service")] = doc
    return payload, docs


def table(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in report["tables"] if t["logical_name"] == name)


def enable_pitr(
    emulator: Emulator, name: str = "customers", enabled: bool = True, hours_ago: float = 2
) -> None:
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled}
    )
    if enabled:  # as if PITR had been on for a while, so the restorable window can lag behind now
        from moto.dynamodb.models import dynamodb_backends

        moto_table = dynamodb_backends[ACCOUNT_ID][REGION].tables[name]
        moto_table.__dict__[ENABLED_ATTR] = time.time() - hours_ago * 3600


def test_each_metric_is_computed_from_real_state(emulator, stack):
    ddb = emulator.clients.client("dynamodb")
    enable_pitr(emulator)
    CONTROL.latest_lag_seconds = 120.0
    backup = ddb.create_backup(TableName="customers", BackupName="manual")["BackupDetails"]
    now = datetime.now(UTC)
    # An export chain as the export function records it: a FULL base and a newer INCREMENTAL.
    chain = ExportChainStore(ddb, stack.physical("StateTable"))
    for kind, age in (("FULL", timedelta(hours=3)), ("INCREMENTAL", timedelta(minutes=50))):
        chain.save(
            ExportRecord(
                logical_name="customers",
                export_type=kind,
                tick="t",
                physical_table="customers",
                window_to=now - age,
                status="COMPLETED",
                client_token="c",
                s3_bucket="b",
                s3_prefix="p",
                started_at=now - age,
                ended_at=now - age,
            )
        )
    chain.update_head("customers", set_={"base_sk": "EXP#x#FULL#1"})
    # A CDC archive object, and one record the archiver gave up on.
    bucket = stack.physical("ArchiveBucket")
    key = f"{partition_prefix('customers', now)}customers--label/1-2.jsonl.gz"
    emulator.clients.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"{}\n"))
    queue_url = emulator.clients.client("sqs").get_queue_url(
        QueueName=stack.physical("CdcFailureQueue").rsplit("/", 1)[-1]
    )
    emulator.clients.client("sqs").send_message(QueueUrl=queue_url["QueueUrl"], MessageBody="{}")

    report, docs = run_posture(emulator, stack)

    posture = table(report, "customers")
    assert posture["live_table"] == "customers"
    assert posture["pitr"]["enabled"] is True
    assert 110 <= posture["pitr"]["lag_seconds"] <= 400
    assert posture["backups"]["available"] == 1
    newest = datetime.fromisoformat(posture["backups"]["newest"])
    assert newest == backup["BackupCreationDateTime"]
    assert posture["exports"]["has_base"] is True
    assert posture["cdc"]["dead_letters"] == 1
    assert posture["replicas"] == []
    # The newest recoverable point is the backup just taken (younger than PITR's 120 s lag).
    assert posture["rpo_source"] == "backup"
    assert posture["rpo_met"] is True
    assert posture["status"] == "at_risk"  # the dead letter

    per_table = docs[("customers",)]
    assert per_table["PitrEnabled"] == [1.0]
    assert per_table["PitrLagSeconds"][0] >= 110
    assert per_table["BackupAgeSeconds"][0] < 300
    assert per_table["CdcArchiveLagSeconds"][0] < 300
    assert per_table["CdcFailures"] == [1.0]
    assert per_table["ReplicaCount"] == [0.0]
    assert per_table["RpoMet"] == [1.0]
    assert per_table["WorstCaseRpoSeconds"][0] < 300
    assert per_table["PostureCheckFailures"] == [0.0]
    assert 3 * 3600 - 60 <= docs[("customers", "FULL")]["ExportAgeSeconds"][0] <= 3 * 3600 + 300
    assert 50 * 60 - 60 <= docs[("customers", "INCREMENTAL")]["ExportAgeSeconds"][0] <= 50 * 60 + 300
    aggregate = docs[()]
    assert aggregate["TablesRpoNotMet"] == [0.0]
    assert aggregate["TablesPitrDisabled"] == [0.0]
    assert aggregate["CdcFailures"] == [1.0]
    assert aggregate["TablesChecked"] == [1.0]
    # No rehearsal yet: the measured RTO is unknown, which never counts as met.
    assert aggregate["TablesRtoNotMet"] == [1.0]
    assert "MeasuredRtoSeconds" not in aggregate


def test_pitr_switched_off_turns_the_rpo_metric_red(emulator, stack):
    enable_pitr(emulator)
    _, docs = run_posture(emulator, stack)
    assert docs[("customers",)]["RpoMet"] == [1.0]
    assert docs[()]["TablesRpoNotMet"] == [0.0]
    assert docs[()]["WorstCaseRpoSeconds"][0] < 60

    enable_pitr(emulator, enabled=False)
    report, docs = run_posture(emulator, stack)

    assert table(report, "customers")["status"] == "at_risk"
    assert docs[("customers",)]["PitrEnabled"] == [0.0]
    assert docs[("customers",)]["RpoMet"] == [0.0]
    assert "WorstCaseRpoSeconds" not in docs[("customers",)]  # no recoverable point at all
    assert docs[()]["TablesRpoNotMet"] == [1.0]
    assert docs[()]["TablesPitrDisabled"] == [1.0]
    assert "WorstCaseRpoSeconds" not in docs[()]  # missing = breaching for the RPO alarm


def test_pitr_lag_beyond_the_objective_breaches_the_rpo(emulator, stack):
    enable_pitr(emulator)
    CONTROL.latest_lag_seconds = 20 * 60.0  # objective: RpoMinutes = 15
    report, docs = run_posture(emulator, stack)
    assert table(report, "customers")["rpo_met"] is False
    assert docs[("customers",)]["RpoMet"] == [0.0]
    assert docs[()]["WorstCaseRpoSeconds"][0] > 15 * 60


def test_a_deleted_table_is_a_failure_and_the_others_are_still_reported(emulator, customers):
    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "orders")
    stack = emulator.deploy(parameters={"ProtectedTables": "customers,orders"})
    enable_pitr(emulator)
    ddb.delete_table(TableName="orders")

    report, docs = run_posture(emulator, stack)

    orders = table(report, "orders")
    assert orders["status"] == "failed"
    assert orders["error"].startswith("TableNotFound")
    assert table(report, "customers")["pitr"]["enabled"] is True
    assert docs[("orders",)]["PostureCheckFailures"] == [1.0]
    assert docs[("orders",)]["RpoMet"] == [0.0]
    assert docs[("customers",)]["RpoMet"] == [1.0]
    assert docs[()]["PostureCheckFailures"] == [1.0]
    assert docs[()]["TablesRpoNotMet"] == [1.0]
    assert docs[()]["TablesChecked"] == [2.0]


def test_throttling_and_missing_permissions_are_reported_per_table(emulator, customers, monkeypatch):
    from dynamodb_dr.core.dynamo import DynamoControl
    from dynamodb_dr.core.errors import AccessDenied, TransientAwsError

    ddb = emulator.clients.client("dynamodb")
    create_customers_table(ddb, "orders")
    create_customers_table(ddb, "invoices")
    stack = emulator.deploy(parameters={"ProtectedTables": "customers,orders,invoices"})
    enable_pitr(emulator)
    real_pitr, real_describe = DynamoControl.pitr_status, DynamoControl.describe_table

    def pitr_status(self: DynamoControl, table: str) -> Any:
        if table == "orders":
            raise TransientAwsError("ThrottlingException: Rate exceeded", table=table)
        return real_pitr(self, table)

    def describe_table(self: DynamoControl, table: str) -> Any:
        if table == "invoices":
            raise AccessDenied("AccessDeniedException: not authorized", table=table)
        return real_describe(self, table)

    monkeypatch.setattr(DynamoControl, "pitr_status", pitr_status)
    monkeypatch.setattr(DynamoControl, "describe_table", describe_table)

    report, docs = run_posture(emulator, stack)

    assert table(report, "orders")["unknown"]["pitr"].startswith("TransientAwsError")
    assert table(report, "orders")["rpo_met"] is None
    assert table(report, "invoices")["status"] == "failed"
    assert table(report, "invoices")["error"].startswith("AccessDenied")
    assert table(report, "customers")["rpo_met"] is True
    assert docs[("orders",)]["PostureCheckFailures"] == [1.0]
    assert docs[("invoices",)]["PostureCheckFailures"] == [1.0]
    assert docs[()]["TablesRpoNotMet"] == [2.0]
    assert docs[()]["TablesPitrDisabled"] == [2.0]  # unreadable counts as off
