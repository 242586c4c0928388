"""Issue 20 on the emulator: every way the CDC archive stops keeping up raises its alarm
condition (the metric the alarm watches crosses the alarm's threshold: moto evaluates no alarms),
a quiet table stays green, and a stuck archiver, once fixed, archives its backlog with nothing lost.

Stream deliveries go through the emulated Lambda mapping (emulator/mappings.py): batches,
checkpoints, retries, IteratorAge. `let_time_pass` moves what already happened into the past.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freshness_support import (
    archived,
    cdc_of,
    delivery,
    emf,
    enable_pitr,
    follow,
    let_time_pass,
    mapping_of,
    posture,
    risk_codes,
    write,
)

from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.faults import FaultInjector

pytestmark = pytest.mark.integration

RPO = 15 * 60  # the stack's default RpoMinutes


def archive_writes(params: dict[str, object]) -> bool:
    return str(params.get("Key", "")).startswith("cdc/table=")


def test_a_quiet_table_stays_green(emulator: Emulator, stack: DeployedStack) -> None:
    enable_pitr(emulator)
    follow(emulator, stack)
    report, docs = posture(emulator, stack)
    cdc = cdc_of(report)
    assert cdc["risks"] == [] and cdc["newest_object"] is None and cdc["mapping_state"] == "Enabled"
    assert docs[("customers",)]["CdcArchiveAtRisk"] == [0.0] and docs[()]["TablesCdcAtRisk"] == [0.0]

    # Archived writes, then three quiet hours: still green, and the archive reaches its last change.
    mapping = delivery(emulator, stack)
    write(emulator, "customers", 3)
    let_time_pass(emulator, "customers", 180)
    assert mapping.drain() == 3
    let_time_pass(emulator, "customers", 10)  # no IteratorAge reading is recent any more
    report, docs = posture(emulator, stack)
    cdc = cdc_of(report)
    assert cdc["risks"] == [] and docs[()]["TablesCdcAtRisk"] == [0.0]
    reach = datetime.fromisoformat(cdc["reach"])
    assert timedelta(hours=3) <= datetime.now(UTC) - reach < timedelta(hours=3, minutes=2)


def test_a_stuck_archiver_raises_the_alarm_condition_and_archives_its_backlog_once_fixed(
    emulator: Emulator, stack: DeployedStack
) -> None:
    enable_pitr(emulator, hours_ago=3)
    follow(emulator, stack)
    mapping = delivery(emulator, stack)
    before = write(emulator, "customers", 5, "before")
    let_time_pass(emulator, "customers", 30)
    assert mapping.drain() == 5

    with FaultInjector() as faults:  # S3 refuses the archive's writes (a bucket policy, a KMS grant)
        faults.deny("s3", "PutObject", when=archive_writes)
        during = write(emulator, "customers", 20, "during")
        let_time_pass(emulator, "customers", 20)
        polls = [mapping.poll() for _ in range(3)]
        archiver = emf(emulator)[()]
        report, docs = posture(emulator, stack)

    # Lambda holds the batch and retries it: nothing checkpointed, nothing dropped.
    assert all(p.failed and p.archived == 0 and p.dead_lettered == 0 for p in polls)
    assert archiver["CdcRecordsFailed"] == [20.0]  # CdcArchiverFailing's input, every minute
    assert polls[-1].iterator_age_seconds is not None and polls[-1].iterator_age_seconds > RPO
    assert set(risk_codes(report)) == {"behind", "unarchived-writes"}
    assert docs[("customers",)]["CdcMappingLagSeconds"][0] > RPO
    assert docs[("customers",)]["CdcArchiveAtRisk"] == [1.0]
    assert docs[()]["TablesCdcAtRisk"] == [1.0]  # CdcArchiveAtRisk: threshold 1
    stuck_at = datetime.fromisoformat(cdc_of(report)["unarchived_writes_since"])
    assert datetime.now(UTC) - stuck_at < timedelta(hours=1)  # caught well inside the 24 h

    # Fixed: the held batch goes through; every change once, none lost.
    assert mapping.drain() == 20
    changes = archived(emulator, stack)
    assert sorted(c.keys["customer_id"]["S"] for c in changes) == sorted(before + during)
    assert len({c.sequence_number for c in changes}) == len(changes)
    let_time_pass(emulator, "customers", 6)  # the next posture run after the recovery
    report, docs = posture(emulator, stack)
    assert cdc_of(report)["risks"] == [] and docs[()]["TablesCdcAtRisk"] == [0.0]
    assert cdc_of(report)["replayable_from"] == "pitr"


def test_a_disabled_mapping_is_re_enabled_and_the_follower_says_when_it_cannot(
    emulator: Emulator, stack: DeployedStack
) -> None:
    follow(emulator, stack)
    uuid = mapping_of(emulator, stack, "customers")["UUID"]
    emulator.clients.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    report, docs = posture(emulator, stack)
    assert risk_codes(report) == ["mapping-disabled"] and docs[()]["TablesCdcAtRisk"] == [1.0]

    with FaultInjector() as faults:
        faults.deny("lambda", "UpdateEventSourceMapping")
        payload, errored, metrics = follow(emulator, stack)
    assert errored and payload["errorType"] == "StreamFollowFailed"
    assert metrics["CdcFollowFailures"] == [1.0]  # CdcMappingsNotKept: threshold 1

    payload, errored, metrics = follow(emulator, stack)
    assert not errored and payload["tables"][0]["action"] == "re-enabled"
    assert metrics["CdcMappingsRepaired"] == [1.0] and metrics["CdcFollowFailures"] == [0.0]
    assert mapping_of(emulator, stack, "customers")["State"] == "Enabled"
    report, _ = posture(emulator, stack)
    assert cdc_of(report)["risks"] == []


def test_a_deleted_mapping_is_created_again_with_its_coverage_recorded(
    emulator: Emulator, stack: DeployedStack
) -> None:
    follow(emulator, stack)
    uuid = mapping_of(emulator, stack, "customers")["UUID"]
    emulator.clients.client("lambda").delete_event_source_mapping(UUID=uuid)
    report, _ = posture(emulator, stack)
    assert risk_codes(report) == ["no-mapping"]

    payload, errored, metrics = follow(emulator, stack)
    assert not errored and payload["tables"][0]["action"] == "created"
    assert metrics["CdcMappingsCreated"] == [1.0]
    report, _ = posture(emulator, stack)
    cdc = cdc_of(report)
    assert cdc["risks"] == [] and cdc["mapping_state"] == "Enabled"
    # TRIM_HORIZON on a day-old stream archives what the stream still holds: about the last day.
    assert datetime.fromisoformat(cdc["covered_since"]) > datetime.now(UTC) - timedelta(hours=24)


def test_the_stream_turned_off_is_caught_turned_back_on_and_the_gap_reported(
    emulator: Emulator, stack: DeployedStack
) -> None:
    dynamodb = emulator.clients.client("dynamodb")
    follow(emulator, stack)
    old_stream = dynamodb.describe_table(TableName="customers")["Table"]["LatestStreamArn"]
    dynamodb.update_table(TableName="customers", StreamSpecification={"StreamEnabled": False})
    write(emulator, "customers", 4, "unstreamed")
    let_time_pass(emulator, "customers", 5)
    report, docs = posture(emulator, stack)
    assert {"stream-off", "unarchived-writes"} <= set(risk_codes(report))
    assert docs[()]["TablesCdcAtRisk"] == [1.0]

    payload, errored, metrics = follow(emulator, stack)
    assert not errored and payload["tables"][0]["stream_gap"] is True
    assert metrics["CdcStreamGaps"] == [1.0]  # CdcStreamGap: threshold 1
    new_stream = dynamodb.describe_table(TableName="customers")["Table"]["LatestStreamArn"]
    assert new_stream != old_stream and payload["draining"] == [old_stream]  # the old one drains
    cdc = cdc_of(posture(emulator, stack)[0])
    assert cdc["stream_arn"] == new_stream and cdc["mapping_state"] == "Enabled"
    # Coverage restarts with the new stream: the writes made while it was off are in no stream.
    label_time = datetime.fromisoformat(new_stream.rsplit("/", 1)[1]).replace(tzinfo=UTC)
    assert datetime.fromisoformat(cdc["covered_since"]) == label_time


def test_dead_letters_are_charged_to_their_table_only(emulator: Emulator, stack_two: DeployedStack) -> None:
    stack = stack_two
    follow(emulator, stack)
    uuid = mapping_of(emulator, stack, "orders")["UUID"]
    emulator.clients.client("lambda").update_event_source_mapping(UUID=uuid, MaximumRetryAttempts=0)
    mapping = delivery(emulator, stack, "orders")
    write(emulator, "orders", 3, "o")
    with FaultInjector() as faults:
        faults.deny("s3", "PutObject", when=archive_writes)
        first, second = mapping.poll(), mapping.poll()
    assert first.failed and first.dead_lettered == 3  # no retries left: the position to the queue
    assert second.records == 0  # and the mapping moved on
    report, docs = posture(emulator, stack)
    assert risk_codes(report, "orders") == ["dead-letters"]
    assert "3 change(s) of orders" in cdc_of(report, "orders")["risks"][0]
    assert risk_codes(report, "customers") == []
    assert docs[()]["CdcFailures"] == [1.0]  # CdcDeadLetters' posture input
    assert docs[()]["TablesCdcAtRisk"] == [1.0]
    sqs = emulator.clients.client("sqs")
    depth = sqs.get_queue_attributes(
        QueueUrl=stack.outputs["CdcFailureQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(depth) == 1  # CdcFailureQueue's input (> 0); the posture check only looked at it


def test_a_batch_whose_position_cannot_be_queued_either_is_counted_as_dropped(
    emulator: Emulator, stack: DeployedStack
) -> None:
    follow(emulator, stack)
    uuid = mapping_of(emulator, stack, "customers")["UUID"]
    emulator.clients.client("lambda").update_event_source_mapping(UUID=uuid, MaximumRetryAttempts=0)
    mapping = delivery(emulator, stack)
    write(emulator, "customers", 2)
    with FaultInjector() as faults:
        faults.deny("s3", "PutObject", when=archive_writes)
        faults.deny("sqs", "SendMessage")  # the queue's policy or key was changed
        poll = mapping.poll()
    assert poll.dead_lettered == 2 and poll.undelivered == 2
    now = datetime.now(UTC)
    dropped = emulator.clients.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="DestinationDeliveryFailures",
        Dimensions=[{"Name": "FunctionName", "Value": stack.physical("CdcArchiverFunction")}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in dropped] == [1.0]  # CdcRecordsDropped's input (>= 1 in a minute)
    sqs = emulator.clients.client("sqs")
    depth = sqs.get_queue_attributes(
        QueueUrl=stack.outputs["CdcFailureQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(depth) == 0  # nothing in the failure queue: only this alarm can tell
    cdc = cdc_of(posture(emulator, stack)[0])
    assert datetime.fromisoformat(cdc["covered_since"]) > now and cdc["reach"] is None  # gap, stream unknown


def test_a_throttled_archiver_is_seen_and_its_writes_reported_unarchived(
    emulator: Emulator, stack: DeployedStack
) -> None:
    follow(emulator, stack)
    mapping = delivery(emulator, stack)
    archiver = stack.physical("CdcArchiverFunction")
    emulator.clients.client("lambda").put_function_concurrency(
        FunctionName=archiver, ReservedConcurrentExecutions=0
    )
    write(emulator, "customers", 2)
    let_time_pass(emulator, "customers", 4)
    polls = [mapping.poll() for _ in range(3)]
    assert all(p.throttled and p.archived == 0 for p in polls)
    now = datetime.now(UTC)
    throttles = emulator.clients.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Throttles",
        Dimensions=[{"Name": "FunctionName", "Value": archiver}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=300,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in throttles) == 3  # CdcArchiverThrottled's input
    report, _ = posture(emulator, stack)
    assert risk_codes(report) == ["unarchived-writes"]


@pytest.fixture
def stack_two(emulator: Emulator, customers: str) -> DeployedStack:
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    return emulator.deploy(parameters={"ProtectedTables": "customers,orders"})


def test_status_shows_the_reach_and_each_reason(
    emulator: Emulator, stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    from dynamodb_dr_local.cli import main

    enable_pitr(emulator)
    assert main(["status", "--stack", stack.name]) == 1  # the follower has not mapped the table yet
    out = capsys.readouterr().out
    assert "reach -, AT RISK: no-mapping" in out
    assert "customers: CDC archive no-mapping: the archiver has no mapping on the live stream" in out

    follow(emulator, stack)
    let_time_pass(emulator, "customers", 10)  # a stream followed for a while
    mapping = delivery(emulator, stack)
    write(emulator, "customers", 2)
    mapping.drain()
    main(["status", "--stack", stack.name])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("customers"))
    assert "reach " in row and "(on pitr)" in row and "AT RISK" not in row
