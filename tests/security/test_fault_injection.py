"""Fault injection gate: the backup run under throttling, 5xx, timeouts and access denied either
completes correctly after botocore's retries or stops safely (nothing lost, duplicated, deleted).

The injector (cli/dynamodb_dr_local/emulator/faults.py) is reusable by the other suites: export,
CDC archiver, replay and the restore state machine (their clients are hooked the same way)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from gates import report_gate
from security_support import backups, day, deploy, invoke, run_execution, scan_all, tick_event

from dynamodb_dr.core import paths
from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator import faults as f
from dynamodb_dr_local.emulator.faults import FaultInjector, touches_table

pytestmark = pytest.mark.integration


def _ours(emulator: Emulator, table: str) -> dict[str, str]:
    return {arn: name for arn, name in backups(emulator, table).items() if name.startswith("ddbdr-")}


def _run(emulator: Emulator, stack: DeployedStack, n: int) -> tuple[dict[str, Any], bool]:
    return invoke(emulator, stack.physical("BackupFunction"), tick_event(day(n)))


@pytest.mark.parametrize(
    "kind",
    [
        f.THROTTLING,
        f.PROVISIONED_THROUGHPUT_EXCEEDED,
        f.INTERNAL_SERVER_ERROR,
        f.SERVICE_UNAVAILABLE,
        f.READ_TIMEOUT,
        f.CONNECT_TIMEOUT,
    ],
)
def test_transient_fault_on_create_backup_is_retried_and_makes_exactly_one_backup(
    request: pytest.FixtureRequest, emulator: Emulator, stack: DeployedStack, customers: str, kind: str
) -> None:
    with FaultInjector(seed=1) as faults:
        faults.add("dynamodb", "CreateBackup", kind, times=2)
        payload, errored = _run(emulator, stack, 0)
    report = faults.report()
    report_gate(request, f"faults: create_backup {kind}", report.summary())
    assert not errored, payload
    assert report.count("dynamodb", "CreateBackup", kind) == 2
    # CreateBackup is not idempotent: our own loop retries it (looking for a lost success first).
    [row] = payload["tables"]
    assert row["backup"] == "created"
    assert list(_ours(emulator, customers).values()) == [row["backup_name"]]


def test_lost_create_backup_response_does_not_duplicate_the_backup(
    emulator: Emulator, stack: DeployedStack, customers: str
) -> None:
    with FaultInjector(seed=1) as faults:
        faults.add("dynamodb", "CreateBackup", f.READ_TIMEOUT, times=1, applied=True)
        payload, errored = _run(emulator, stack, 0)
    assert not errored, payload
    assert len(_ours(emulator, customers)) == 1, sorted(_ours(emulator, customers).values())


def test_throttled_ledger_and_parameter_reads_are_retried(
    emulator: Emulator, stack: DeployedStack, customers: str
) -> None:
    with FaultInjector(seed=2) as faults:
        faults.throttle("ssm", "GetParameter", times=2)
        faults.throttle("dynamodb", "UpdateItem", times=1, provisioned=True)
        faults.throttle("dynamodb", "DescribeContinuousBackups", times=1)
        payload, errored = _run(emulator, stack, 0)
    assert not errored, payload
    assert faults.report().total == 4
    assert len(_ours(emulator, customers)) == 1


def test_access_denied_on_one_table_fails_that_table_only_and_deletes_nothing(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str
) -> None:
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    stack = deploy(emulator, "customers,orders", BackupRetentionDays="1", MinBackupsKept="1")
    for n in range(3):
        _, errored = _run(emulator, stack, n)
        assert not errored
    orders_before = _ours(emulator, "orders")
    customers_before = _ours(emulator, customers)
    with FaultInjector(seed=3) as faults:
        faults.deny("dynamodb", "*", when=touches_table("orders"))
        payload, errored = _run(emulator, stack, 3)
    report_gate(request, "faults: access denied on one table", faults.report().summary())
    assert errored and payload["errorType"] == "BackupRunFailed"
    assert "orders" in payload["errorMessage"] and "customers" not in payload["errorMessage"]
    assert faults.report().count(kind=f.ACCESS_DENIED) >= 1
    assert _ours(emulator, "orders") == orders_before, "nothing of the failed table changed"
    deletes = [params for service, op, params in faults.calls if op == "DeleteBackup"]
    assert not any(":table/orders/" in p["BackupArn"] for p in deletes), "no delete tried on the failed table"
    customers_after = _ours(emulator, customers)
    assert len(set(customers_after) - set(customers_before)) == 1, "the healthy table got its backup"
    assert set(customers_before) - set(customers_after) == {p["BackupArn"] for p in deletes}


def test_persistent_5xx_on_delete_backup_keeps_backups_and_reports_failure(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str
) -> None:
    stack = deploy(emulator, "customers", BackupRetentionDays="1", MinBackupsKept="1")
    for n in range(2):
        assert not _run(emulator, stack, n)[1]
    before = len(_ours(emulator, customers))  # ages count from now: day 0 is already pruned
    with FaultInjector(seed=4) as faults:
        faults.server_error("dynamodb", "DeleteBackup")
        payload, errored = _run(emulator, stack, 3)
    report = faults.report()
    report_gate(request, "faults: persistent 5xx on delete_backup", report.summary())
    assert errored and payload["errorType"] == "BackupRunFailed"
    assert report.count("dynamodb", "DeleteBackup", f.INTERNAL_SERVER_ERROR) == 5, "5 attempts in all"
    assert len(_ours(emulator, customers)) == before + 1, "every backup is still there"
    # Once AWS recovers, the next run prunes what the failed run could not (the ledger kept them).
    payload, errored = _run(emulator, stack, 4)
    assert not errored, payload
    assert len(payload["tables"][0]["deleted"]) == 2


def test_injector_speaks_every_protocol_and_counts(
    request: pytest.FixtureRequest, emulator: Emulator
) -> None:
    s3 = emulator.clients.client("s3")  # rest-xml
    sns = emulator.clients.client("sns")  # query
    ssm = emulator.clients.client("ssm")  # json
    lam = emulator.clients.client("lambda")  # rest-json
    s3.create_bucket(Bucket="probe")
    with FaultInjector(seed=5) as faults:
        faults.deny("s3", "ListObjectsV2")
        faults.throttle("sns", "ListTopics")
        faults.deny("ssm", "get_parameter")
        faults.server_error("lambda", "ListFunctions", unavailable=True)
        faults.timeout("s3", "HeadBucket")
        faults.timeout("s3", "GetBucketVersioning", connect=True)
        with pytest.raises(ClientError) as denied:
            s3.list_objects_v2(Bucket="probe")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as throttled:
            sns.list_topics()
        assert throttled.value.response["Error"]["Code"] == "Throttling"
        with pytest.raises(ClientError) as denied_json:
            ssm.get_parameter(Name="x")
        assert denied_json.value.response["Error"]["Code"] == "AccessDeniedException"
        with pytest.raises(ClientError) as unavailable:
            lam.list_functions()
        assert unavailable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ReadTimeoutError):
            s3.head_bucket(Bucket="probe")
        with pytest.raises(ConnectTimeoutError):
            s3.get_bucket_versioning(Bucket="probe")
        assert s3.list_buckets()["Buckets"], "calls no rule matches are untouched"
    # emulator clients make 2 attempts: throttling, 5xx and timeouts are retried once, denial never
    report = faults.report()
    assert report.count("s3", "ListObjectsV2") == 1
    assert report.count("sns", "ListTopics") == 2
    assert report.count("lambda", "ListFunctions") == 2
    assert report.count("s3", "HeadBucket") == 2
    s3.list_objects_v2(Bucket="probe")  # inactive again


def test_count_skip_and_seeded_probability(emulator: Emulator) -> None:
    ssm = emulator.clients.client("ssm")
    ssm.put_parameter(Name="/p", Value="v", Type="String")

    def run(seed: int) -> list[bool]:
        outcomes = []
        with FaultInjector(seed=seed) as faults:
            faults.deny("ssm", "GetParameter", probability=0.5)
            for _ in range(20):
                try:
                    ssm.get_parameter(Name="/p")
                    outcomes.append(True)
                except ClientError:
                    outcomes.append(False)
        return outcomes

    assert run(11) == run(11), "a seed replays the same faults"
    assert 0 < run(11).count(False) < 20
    with FaultInjector() as faults:
        faults.deny("ssm", "GetParameter", skip=2, times=1, when=lambda p: p.get("Name") == "/p")
        results = []
        for _ in range(4):
            try:
                ssm.get_parameter(Name="/p")
                results.append("ok")
            except ClientError:
                results.append("denied")
    assert results == ["ok", "ok", "denied", "ok"]
    with pytest.raises(RuntimeError), FaultInjector(), FaultInjector():
        pass


# --------------------------------------------------------------------------- restore state machine
def _restore_ready(emulator: Emulator, customers: str) -> tuple[DeployedStack, list[dict[str, Any]]]:
    table = emulator.clients.session_resource("dynamodb").Table(customers)
    load_customers(table, 40, seed=11)
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName=customers, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return deploy(emulator, customers), scan_all(emulator, customers)


def _restore(emulator: Emulator, stack: DeployedStack, name: str) -> dict[str, Any]:
    if "RestoreStateMachine" not in stack.resources:
        pytest.skip("the restore state machine has not landed")
    document = (PROJECT_ROOT / "events" / "restore-latest.json").read_text()
    arn = run_execution(emulator, stack.physical("RestoreStateMachine"), name, document)
    return dict(emulator.clients.client("stepfunctions").describe_execution(executionArn=arn))


def _pointer(emulator: Emulator, stack: DeployedStack, logical: str) -> str | None:
    name = paths.live_table_parameter(paths.stack_prefix(stack.name), logical)
    try:
        return str(emulator.clients.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError:
        return None


def test_throttled_restore_is_retried_and_restores_once(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str
) -> None:
    stack, source = _restore_ready(emulator, customers)
    tables_before = set(emulator.clients.client("dynamodb").list_tables()["TableNames"])
    with FaultInjector(seed=12) as faults:
        faults.throttle("dynamodb", "RestoreTableToPointInTime", times=2)
        faults.throttle("dynamodb", "DescribeTable", times=2)
        faults.throttle("ssm", "PutParameter", times=1)
        execution = _restore(emulator, stack, "throttled")
    report_gate(request, "faults: restore under throttling", faults.report().summary())
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    new = set(emulator.clients.client("dynamodb").list_tables()["TableNames"]) - tables_before
    assert len(new) == 1 and next(iter(new)).startswith(f"{customers}-dr-"), new
    assert faults.report().count("dynamodb", "RestoreTableToPointInTime") == 2
    assert len(scan_all(emulator, next(iter(new)))) == len(source), "nothing lost, nothing duplicated"
    assert scan_all(emulator, customers) == source


def test_denied_pointer_write_stops_the_restore_safely(
    request: pytest.FixtureRequest, emulator: Emulator, customers: str
) -> None:
    stack, source = _restore_ready(emulator, customers)
    pointer_before = _pointer(emulator, stack, customers)
    with FaultInjector(seed=13) as faults:
        faults.deny("ssm", "PutParameter")
        execution = _restore(emulator, stack, "denied-cutover")
    report_gate(request, "faults: restore with pointer write denied", faults.report().summary())
    assert execution["status"] != "SUCCEEDED"
    assert faults.report().count("ssm", "PutParameter") >= 1
    assert _pointer(emulator, stack, customers) == pointer_before, "applications still use the same table"
    assert scan_all(emulator, customers) == source, "the original table is untouched"
