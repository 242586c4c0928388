"""The stream follower keeps the archiver on each protected table's live table, through cutovers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cdc_support import Cdc
from conftest import invoke, tag_as_restore_of

from dynamodb_dr.core import paths
from dynamodb_dr.core.paths import live_table_parameter, stack_prefix
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.streams import StreamReader, monotonic_stream_sequences

pytestmark = pytest.mark.integration


def follow(emulator: Emulator, stack: DeployedStack) -> dict[str, object]:
    payload, errored = invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert not errored, payload
    return payload


def mappings(emulator: Emulator, stack: DeployedStack) -> dict[str, dict[str, object]]:
    listed = emulator.clients.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical("CdcArchiverFunction")
    )["EventSourceMappings"]
    return {str(m["EventSourceArn"]).split("/")[1]: m for m in listed}


def test_follower_maps_the_live_table_once(emulator: Emulator, stack: DeployedStack) -> None:
    first = follow(emulator, stack)
    assert first["tables"][0]["action"] == "created"  # type: ignore[index]
    mapping = mappings(emulator, stack)["customers"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # Retried until the records are a day old: a broken archiver holds its shard, nothing is dropped.
    assert mapping["BatchSize"] == 1000 and mapping["MaximumRetryAttempts"] == -1
    assert mapping["MaximumRecordAgeInSeconds"] == 86400
    assert "CdcFailureQueue" in mapping["DestinationConfig"]["OnFailure"]["Destination"]  # type: ignore[index]
    follow(emulator, stack)
    assert len(mappings(emulator, stack)) == 1  # idempotent


def test_follower_moves_to_the_restored_table_after_cutover(emulator: Emulator, stack: DeployedStack) -> None:
    dynamodb = emulator.clients.client("dynamodb")
    follow(emulator, stack)
    dynamodb.create_table(  # a restored table: no stream, as AWS restores them
        TableName="customers-dr-20261126",
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    tag_as_restore_of(emulator, "customers-dr-20261126", "customers")  # as the restore tags it
    emulator.clients.client("ssm").put_parameter(
        Name=paths.live_table_parameter(paths.stack_prefix(stack.name), "customers"),
        Value="customers-dr-20261126",
        Type="String",
        Overwrite=True,
    )
    report = follow(emulator, stack)
    assert report["tables"][0]["action"] == "stream-enabled+created"  # type: ignore[index]
    spec = dynamodb.describe_table(TableName="customers-dr-20261126")["Table"]["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert set(mappings(emulator, stack)) == {"customers", "customers-dr-20261126"}
    assert len(report["draining"]) == 1  # type: ignore[arg-type]  # the old table may still take writes
    dynamodb.delete_table(TableName="customers")
    # A deleted table's stream stays readable for 24 hours: the mapping drains it that long.
    report = follow(emulator, stack)
    assert report["deleted"] == [] and len(report["draining"]) == 1  # type: ignore[arg-type]
    age_retirement(emulator, stack, "customers", hours=25)
    report = follow(emulator, stack)
    assert len(report["deleted"]) == 1  # type: ignore[arg-type]
    assert set(mappings(emulator, stack)) == {"customers-dr-20261126"}


def age_retirement(emulator: Emulator, stack: DeployedStack, table: str, hours: float) -> None:
    """Move the follower's retirement record of `table`'s streams `hours` into the past."""
    s3, bucket = emulator.clients.client("s3"), stack.outputs["ArchiveBucketName"]
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=f"cdc/streams/{table}--")["Contents"]:
        if "/retired/" not in obj["Key"]:
            continue
        folder, stamp = obj["Key"].rsplit("/", 1)
        when = datetime.strptime(stamp.removesuffix(".json"), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        older = f"{folder}/{when - timedelta(hours=hours):%Y%m%dT%H%M%S.%fZ}.json"
        s3.copy_object(Bucket=bucket, Key=older, CopySource={"Bucket": bucket, "Key": obj["Key"]})
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


def test_writes_reach_the_archive_through_the_mapping(emulator: Emulator, stack: DeployedStack) -> None:
    bucket = stack.outputs["ArchiveBucketName"]
    cdc = Cdc(emulator, stack, bucket, StreamReader(emulator.clients.client("dynamodb"), None, "customers"))
    follow(emulator, stack)
    table = emulator.clients.session_resource("dynamodb").Table("customers")
    with monotonic_stream_sequences():
        for n in range(5):  # moto's mapping delivers each write synchronously
            table.put_item(Item={"customer_id": f"c{n}", "email": f"c{n}@example.com"})
        table.delete_item(Key={"customer_id": "c0"})
    changes = [change for _, change in cdc.archived()]
    assert [c.event_name for c in changes] == ["INSERT"] * 5 + ["REMOVE"]
    assert len({c.sequence_number for c in changes}) == 6


def test_a_live_table_streaming_the_wrong_view_fails_loudly(emulator: Emulator, stack: DeployedStack) -> None:
    emulator.clients.client("dynamodb").create_table(
        TableName="customers-dr-keys",
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    emulator.clients.client("ssm").put_parameter(
        Name=paths.live_table_parameter(paths.stack_prefix(stack.name), "customers"),
        Value="customers-dr-keys",
        Type="String",
    )
    payload, errored = invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert errored and payload["errorType"] == "StreamFollowFailed"
    logs = emulator.router.invocations[-1].logs
    assert "StreamViewMismatch" in logs
    assert mappings(emulator, stack) == {}  # and no mapping on a stream the archive cannot use


def test_follower_copies_the_live_table_history_into_the_archive(
    emulator: Emulator, stack: DeployedStack
) -> None:
    from dynamodb_dr.cdc.archive import ArchiveStore
    from dynamodb_dr.cdc.timeline import read_timeline

    ssm = emulator.clients.client("ssm")
    store = ArchiveStore(emulator.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    parameter = live_table_parameter(stack_prefix(stack.name), "customers")
    follow(emulator, stack)
    assert not read_timeline(store, "customers").recorded  # no pointer yet: customers is live
    for value in ("customers", "customers-dr-a", "customers"):  # publish, cutover, rollback
        ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)
    emulator.clients.client("dynamodb").create_table(
        TableName="customers-dr-a",
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    report = follow(emulator, stack)
    assert report["tables"][0]["timeline_versions_recorded"] == 3  # type: ignore[index]
    timeline = read_timeline(store, "customers")
    assert [e.table for e in timeline.epochs] == ["customers", "customers-dr-a", "customers"]
    again = follow(emulator, stack)
    assert again["tables"][0]["timeline_versions_recorded"] == 0  # type: ignore[index]  # idempotent
