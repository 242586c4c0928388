"""`dynamodb-dr local` runs like AWS: stream mappings deliver every write, schedules fire,
unimplemented calls are errors (not HTML pages), a taken port is one line."""

from __future__ import annotations

import argparse
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from dynamodb_dr.cdc.archive import ArchiveStore, read_changes
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.commands import local
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector
from dynamodb_dr_local.emulator.local_services import LocalServices

pytestmark = pytest.mark.integration


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Emulator, DeployedStack]]:
    parameters = {"ProtectedTables": "customers", **getattr(request, "param", {})}
    with Emulator(server=True) as emu:
        create_customers_table(emu.clients.client("dynamodb"), "customers")
        load_customers(emu.clients.session_resource("dynamodb").Table("customers"), 20)
        yield emu, emu.deploy(parameters=parameters)


def archived(emu: Emulator, stack: DeployedStack) -> list[str]:
    store = ArchiveStore(emu.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    return [c.keys["customer_id"]["S"] for c in read_changes(store, "customers", start, end)]


def test_the_stream_mapping_delivers_every_write_to_the_archiver(served):
    emu, stack = served
    table = emu.clients.session_resource("dynamodb").Table("customers")
    with LocalServices(emu, stack, log=lambda line: None, schedules=False, background=False) as services:
        # the follower ran at start and mapped the stream from TRIM_HORIZON: the load is archived
        services.poller.poll_once()
        assert len(archived(emu, stack)) == 20
        for burst in range(3):  # moto's own delivery archived the first write and lost the rest
            for n in range(5):
                table.put_item(Item={"customer_id": f"late-{burst}-{n}", "email": "x@example.com"})
            assert services.poller.poll_once() == 5
        table.delete_item(Key={"customer_id": "late-0-0"})
        assert services.poller.poll_once() == 1
    keys = archived(emu, stack)
    assert len(keys) == 20 + 15 + 1
    assert {f"late-{b}-{n}" for b in range(3) for n in range(5)} <= set(keys)


# The default (-1) retries until the records are 24 h old; a set limit gives up after that many.
@pytest.mark.parametrize("served", [{"CdcMaxRetryAttempts": "10"}], indirect=True)
def test_a_batch_the_archiver_cannot_store_is_retried_then_sent_to_the_failure_queue(served):
    emu, stack = served
    table = emu.clients.session_resource("dynamodb").Table("customers")
    sqs = emu.clients.client("sqs")
    queue = stack.outputs["CdcFailureQueueUrl"].rsplit("/", 1)[-1]
    queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    with LocalServices(emu, stack, log=lambda line: None, schedules=False, background=False) as services:
        services.poller.poll_once()
        table.put_item(Item={"customer_id": "during-outage", "email": "x@example.com"})
        with FaultInjector() as faults:
            faults.deny("s3", "PutObject")
            assert services.poller.poll_once() == 0  # reported as a batch item failure: retried
        assert services.poller.poll_once() == 1  # S3 is back: delivered on the retry
        assert "during-outage" in archived(emu, stack)

        table.put_item(Item={"customer_id": "lost-forever", "email": "x@example.com"})
        with FaultInjector() as faults:
            faults.deny("s3", "PutObject")
            for _ in range(12):  # CdcMaxRetryAttempts=10
                services.poller.poll_once()
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    (message,) = [json.loads(m["Body"]) for m in messages]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert "lost-forever" not in archived(emu, stack)


def test_schedules_fire_the_real_functions_when_due(served):
    emu, stack = served
    with LocalServices(emu, stack, log=lambda line: None, background=False) as services:
        assert services.runner is not None
        due = dict(services.runner.upcoming())
        fired = services.runner.run_due(due["posture"] + timedelta(seconds=1))
    assert "posture" in fired
    names = {i.function_name for i in emu.router.invocations}
    assert stack.physical("PostureFunction") in names


def test_unimplemented_operations_are_service_errors_not_html_pages(served):
    emu, _ = served
    dynamodb = boto3.client("dynamodb", endpoint_url=emu.endpoint_url, region_name="us-east-1")
    with pytest.raises(ClientError) as error:
        dynamodb.describe_contributor_insights(TableName="customers")
    response = error.value.response
    assert response["Error"]["Code"] == "NotImplementedByEmulator"
    assert (
        "DescribeContributorInsights is not implemented by the local emulator" in response["Error"]["Message"]
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["ResponseMetadata"]["RetryAttempts"] == 0, "not retried like a 500"


def _args(**values: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "stack": "dr-local",
        "config_env": "default",
        "sample_items": 50,
        "no_schedules": True,
        "json": False,
    }
    return argparse.Namespace(**{**base, **values})


def test_local_prints_the_stack_and_the_exact_lines_to_export(capsys):
    stop = threading.Event()
    stop.set()  # return as soon as everything is up
    assert local._run(_args(), stop) == 0
    out = capsys.readouterr().out
    (line,) = [x.strip() for x in out.splitlines() if x.strip().startswith("export ")]
    assert line.startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
    assert "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing DYNAMODB_DR_STACK=dr-local" in line
    assert "stack 'dr-local' protects table 'customers' (50 items)" in out

    assert local._run(_args(json=True), stop) == 0
    announced = json.loads(capsys.readouterr().out)
    assert announced["env"]["DYNAMODB_DR_STACK"] == "dr-local" and announced["stack"] == "dr-local"


def test_a_port_in_use_is_one_line_not_a_hang(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["local", "--port", str(port)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"PortInUse: port {port} on 127.0.0.1 is in use" in line and "--port 0" in line
