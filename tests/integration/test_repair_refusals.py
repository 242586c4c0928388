"""Every bad input and every window the archive does not cover: one line, exit 2, nothing written.

Through the CLI (which checks the request, then starts and follows the real state machine), so
each refusal is seen the way an operator sees it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from repair_support import Incident, Rig, bad_deploy, iso, sign_ups

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import repair as repair_command
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setenv("DYNAMODB_DR_STACK", stack.name)
    monkeypatch.setattr(repair_command, "POLL_SECONDS", 0.05)
    return Rig.create(emulator, stack)


LAST_OUT: list[str] = []


def _cli(rig: Rig, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["repair", *args])
    captured = capsys.readouterr()
    LAST_OUT[:] = [captured.out]
    err = [line for line in captured.err.splitlines() if not line.startswith(("  -> ", "started"))]
    return code, "\n".join(err)


def _window(incident: Incident) -> list[str]:
    return ["--table", "customers", "--from", iso(incident.t1), "--to", iso(incident.t2)]


def _nothing_written(rig: Rig, before: dict[str, Any]) -> None:
    assert rig.items() == before
    assert rig.backups() == {} and rig.ledger() == []
    assert not [k for k in rig.repair_objects() if "/entries/" in k or k.endswith("plan.json")]


def _archive_keys(rig: Rig) -> list[str]:
    s3 = rig.emulator.clients.client("s3")
    listed = s3.list_objects_v2(Bucket=rig.bucket, Prefix="cdc/table=customers/dt=")
    return sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".jsonl.gz"))


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_a_deleted_archive_object_is_a_gap(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))
    before = rig.items()
    [key] = _archive_keys(rig)[:1]
    rig.emulator.clients.client("s3").delete_object(Bucket=rig.bucket, Key=key)
    code, err = _cli(rig, capsys, *_window(incident))
    _one_line(code, err, "RepairCoverageIncomplete", "deleted archive objects (a gap)", key)
    _nothing_written(rig, before)


def test_a_corrupt_archive_object_is_named(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))
    before = rig.items()
    key = _archive_keys(rig)[0]
    s3 = rig.emulator.clients.client("s3")
    body = bytearray(s3.get_object(Bucket=rig.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=rig.bucket, Key=key, Body=bytes(body))
    code, err = _cli(rig, capsys, *_window(incident), "--dry-run")
    _one_line(code, err, "RepairCoverageIncomplete", "unreadable (corrupt)", key)
    _nothing_written(rig, before)


def test_an_archive_behind_the_window_end_is_refused(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    table = rig.table
    for n in range(6):
        table.put_item(Item={"customer_id": f"c{n}", "email": f"c{n}@x.org"})
    rig.deliver()
    from repair_support import next_second

    t1 = next_second()
    for n in range(6):
        table.update_item(
            Key={"customer_id": f"c{n}"},
            UpdateExpression="SET email = :e",
            ExpressionAttributeValues={":e": "x"},
        )
    t2 = next_second()
    records = rig.cdc.reader.read()
    rig.cdc.deliver(records[:3], batch_size=10)  # the archiver is behind: half the window not archived
    before = rig.items()
    code, err = _cli(rig, capsys, "--table", "customers", "--from", iso(t1), "--to", iso(t2))
    _one_line(code, err, "RepairCoverageIncomplete", "archive behind", "3 stream record(s)")
    _nothing_written(rig, before)
    rig.cdc.deliver(records[3:], batch_size=10)  # caught up: the same window is now proven
    code, err = _cli(rig, capsys, "--table", "customers", "--from", iso(t1), "--to", iso(t2), "--dry-run")
    assert code == 0, err


def test_a_window_larger_than_one_plan_holds_is_refused_while_reading(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))  # 8 changes in the window
    lam = rig.emulator.clients.client("lambda")
    function = rig.stack.physical("RepairFunction")
    environment = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**environment, "REPAIR_MAX_CHANGES": "5"}}
    )
    before = rig.items()
    code, err = _cli(rig, capsys, *_window(incident))
    _one_line(code, err, "RepairWindowTooLarge", "more than 5 changes", "split it into shorter windows")
    _nothing_written(rig, before)
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**environment, "REPAIR_MAX_CHANGES": "100"}}
    )
    code, err = _cli(rig, capsys, *_window(incident), "--dry-run")  # within the limit: planned
    assert code == 0, err


def test_a_quiet_table_is_proven_by_its_stream(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    incident = bad_deploy(rig)  # nothing written after the window: no archived change after it
    code, err = _cli(rig, capsys, *_window(incident), "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(LAST_OUT[0])
    assert "stream read" in json.dumps(report["archive"]["proofs"])


def test_a_failed_batch_in_the_failure_queue_is_a_gap(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))
    before = rig.items()
    stream_arn = rig.emulator.clients.client("dynamodb").describe_table(TableName="customers")["Table"][
        "LatestStreamArn"
    ]
    record = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "DDBStreamBatchInfo": {
            "shardId": "shardId-0001",
            "startSequenceNumber": "100",
            "endSequenceNumber": "200",
            "approximateArrivalOfFirstRecord": iso(incident.t1 + timedelta(milliseconds=100)),
            "approximateArrivalOfLastRecord": iso(incident.t1 + timedelta(milliseconds=300)),
            "batchSize": 3,
            "streamArn": stream_arn,
        },
    }
    sqs = rig.emulator.clients.client("sqs")
    sqs.send_message(QueueUrl=rig.stack.outputs["CdcFailureQueueUrl"], MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=rig.stack.outputs["CdcFailureQueueUrl"], MessageBody="not json")
    code, err = _cli(rig, capsys, *_window(incident))
    _one_line(code, err, "RepairCoverageIncomplete", "CDC failure queue", "sequence 100..200")
    _nothing_written(rig, before)
    attributes = sqs.get_queue_attributes(
        QueueUrl=rig.stack.outputs["CdcFailureQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    total = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert total == 2  # peeked at, never deleted: the operator and the alarm still see them


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--from", "now-10m", "--to", "now+"], ["bad relative time"]),
        (["--from", "now-1h", "--to", "2099-01-01T00:00:00Z"], ["RepairRequestInvalid", "in the future"]),
        (["--from", "now-1h", "--to", "now-2h"], ["RepairRequestInvalid", "is before from"]),
        (
            ["--from", "now-1h", "--to", "now-5m", "--where", "deploy_version = "],
            ["does not parse", "expected a value"],
        ),
        (["--from", "now-1h", "--to", "now-5m", "--where", "a == 1"], ["does not parse at character"]),
        (["--from", "now-1h", "--to", "now-5m", "--event", "UPSERT"], ["RepairRequestInvalid", "events"]),
        (["--from", "now-1h", "--to", "now-5m", "--key", "[1]"], ["RepairRequestInvalid", "key"]),
        (["--from", "now-1h", "--to", "now-5m", "--max-write-share", "0"], ["max_write_share"]),
    ],
)
def test_bad_input_is_one_line_and_starts_nothing(
    rig: Rig, capsys: pytest.CaptureFixture[str], args: list[str], needles: list[str]
) -> None:
    before = rig.items()
    try:
        code, err = _cli(rig, capsys, "--table", "customers", *args)
    except SystemExit as exc:  # argparse's own refusal (also exit 2, one usage line)
        code, err = int(exc.code or 0), capsys.readouterr().err.splitlines()[-1]
    assert code == 2, err
    for needle in needles:
        assert needle in err, err
    assert (
        not rig.executions
        and not rig.emulator.clients.client("stepfunctions").list_executions(
            stateMachineArn=rig.stack.outputs["RepairStateMachineArn"]
        )["executions"]
    )
    _nothing_written(rig, before)


def test_an_unprotected_table_and_an_unknown_repair_are_refused(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(rig, capsys, "--table", "orders", "--from", "now-1h", "--to", "now-5m")
    _one_line(code, err, "TableNotProtected", "orders")
    code, err = _cli(rig, capsys, "--undo", "no-such-repair")
    _one_line(code, err, "RepairRequestInvalid", "no stored repair plan 'no-such-repair'")
    code, err = _cli(rig, capsys, "--resume", "no-such-repair")
    _one_line(code, err, "RepairRequestInvalid", "no-such-repair")


def test_a_bound_inside_the_second_of_a_change_is_refused_with_whole_seconds(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    incident = bad_deploy(rig, after=sign_ups(1))
    before = rig.items()
    inside = incident.t1 + timedelta(milliseconds=500)  # the bad writes are stamped t1
    code, err = _cli(rig, capsys, "--table", "customers", "--from", iso(inside), "--to", iso(incident.t2))
    _one_line(code, err, "RepairRequestInvalid", f"--from {iso(incident.t1)}", "whole seconds")
    _nothing_written(rig, before)


def test_the_console_input_is_refused_the_same_way(rig: Rig) -> None:
    """Started from the console with simple JSON: a bad request fails the execution at Plan with
    the named error, and the failure handler reports that nothing was written."""
    described = rig.run(
        {"table": "customers", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "bad"
    )
    assert described["status"] == "FAILED" and described["error"] == "RepairRequestInvalid"
    described = rig.run({"table": "customers", "from": "yesterday"}, "worse")
    assert described["status"] == "FAILED" and described["error"] == "RepairRequestInvalid"
    assert rig.backups() == {} and rig.repair_objects() == []
    now = datetime.now(UTC)
    described = rig.run(
        {"table": "customers", "from": iso(now - timedelta(hours=1)), "to": iso(now), "where": "(x = 1"},
        "filter",
    )
    assert described["error"] == "RepairRequestInvalid" and "does not parse" in described["cause"]
