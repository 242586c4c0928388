"""The repair state machine end to end on the emulator: the real template, ASL and handler.

A bad deploy corrupts, deletes and creates items in a window; the repair puts each of them back to
its image at the window's start, keeps every write outside the window, backs the table up first,
proves the result and reports it (without attribute values)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from repair_support import KEY, Rig, bad_deploy, customer, iso, next_second, sign_ups

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(emulator: Emulator, stack: DeployedStack) -> Rig:
    return Rig.create(emulator, stack)


def _subscribe(emulator: Emulator, stack: DeployedStack) -> str:
    sqs, sns = emulator.clients.client("sqs"), emulator.clients.client("sns")
    url = sqs.create_queue(QueueName="repair-notes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.outputs["RepairTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    return url


def _messages(emulator: Emulator, url: str) -> list[str]:
    found = emulator.clients.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"])["Message"] for m in found.get("Messages", [])]


def test_dry_run_counts_every_kind_and_changes_nothing(rig: Rig) -> None:
    incident = bad_deploy(rig, after=sign_ups(3))
    before_repair = rig.items()
    described = rig.run(incident.request(dry_run=True), "dry")
    assert described["status"] == "SUCCEEDED", described
    report = described["report"]
    assert report["status"] == "dry-run"
    assert report["changes"]["in_window"] == {"MODIFY": 4, "REMOVE": 2, "INSERT": 2}
    assert report["keys"] == {
        "affected": 8,
        "writes": 8,
        "put-back-modified": 4,
        "put-back-deleted": 2,
        "delete-created": 2,
        "already": 0,
        "conflict": 0,
        "expired": 0,
        "erased": 0,
    }
    estimate = report["estimate"]
    assert estimate["writes"] == 8 and estimate["write_units"] >= 8
    assert estimate["units_per_second"] == estimate["table_write_capacity"] * 0.5
    # Keys go to the bucket, never into the execution's history; values go nowhere.
    history = json.dumps(
        rig.emulator.clients.client("stepfunctions").get_execution_history(
            executionArn=rig.executions[-1], maxResults=1000
        )["events"],
        default=str,
    )
    assert "c0" not in report.get("sample", {}) and '"c0"' not in history and "null@invalid" not in history
    stored = rig.stored_report(described)
    assert sorted(k[KEY]["S"] for k in stored["sample_keys"]) == sorted(
        incident.corrupted + incident.deleted + incident.created
    )
    assert "null@invalid" not in json.dumps(stored)
    # Nothing written: the table, the backups, the ledger; no plan stored (only the sample/report).
    assert rig.items() == before_repair
    assert rig.backups() == {} and rig.ledger() == []
    assert not [k for k in rig.repair_objects() if "/entries/" in k or k.endswith("plan.json")]


def test_repair_puts_back_updates_deletes_and_creates_and_keeps_later_writes(rig: Rig) -> None:
    notes = _subscribe(rig.emulator, rig.stack)
    incident = bad_deploy(rig, after=sign_ups(3))
    described = rig.run(incident.request(), "repair-1")
    assert described["status"] == "SUCCEEDED", described
    report = described["report"]
    assert report["status"] == "repaired"
    after = rig.items()
    assert {k: after.get(k) for k in incident.before} == incident.before  # every repaired key exact
    assert not set(incident.created) & set(after)  # created in the window: deleted again
    assert all(after[k] == item for k, item in incident.after.items())  # later writes kept
    assert report["applied"]["written"] == 8 and report["applied"]["changed_since_plan"] == 0
    assert report["proof"] == {**report["proof"], "checked": 8, "proven": 8, "unexplained": 0}
    assert report["data_loss_window"]["repaired_keys"] == 8
    assert report["data_loss_window"]["other_items_seconds"] == 0
    # The backup first, named and recorded as the tool's own.
    [(arn, name)] = rig.backups().items()
    assert name == "ddbdr-customers-repair-repair-1" and report["backup"]["arn"] == arn
    [entry] = rig.ledger()
    assert entry["backup_arn"]["S"] == arn and entry["status"]["S"] == "CREATED"
    assert entry["origin"]["S"] == "repair" and int(entry["sk"]["S"][-3:-1]) != 0
    # Notified, with keys at most: no attribute value of any item.
    [message] = _messages(rig.emulator, notes)
    assert "repaired" in message and "c0@example.com" not in message and "null@invalid" not in message
    assert "v42" not in message and "junk" not in message


def test_keys_changed_after_the_window_are_conflicts_left_alone_unless_overwrite(rig: Rig) -> None:
    def fix_by_hand(r: Rig) -> dict[str, dict[str, Any]]:
        fixed = customer(0, email="support-fixed@example.com")
        r.table.put_item(Item=fixed)  # support already fixed c0 after the deploy
        r.table.update_item(  # and c4 (deleted in the window) was re-created by its owner
            Key={KEY: "c4"}, UpdateExpression="SET email = :e", ExpressionAttributeValues={":e": "back@x.org"}
        )
        return {"c0": fixed}

    incident = bad_deploy(rig, after=fix_by_hand)
    described = rig.run(incident.request(), "skip-conflicts")
    report = described["report"]
    assert report["conflicts"]["count"] == 2 and report["conflicts"]["skipped"] == 2
    after = rig.items()
    assert after["c0"]["email"] == "support-fixed@example.com"
    assert after["c4"] == {KEY: "c4", "email": "back@x.org"}
    assert all(after[k] == incident.before[k] for k in ("c1", "c2", "c3", "c5"))
    stored = rig.stored_report(described)
    assert sorted(k[KEY]["S"] for k in stored["conflict_keys"]) == ["c0", "c4"]

    described = rig.run(incident.request(conflicts="overwrite"), "overwrite-conflicts")
    assert described["status"] == "SUCCEEDED", described
    assert described["report"]["applied"]["written"] == 2
    after = rig.items()
    assert after["c0"] == incident.before["c0"] and after["c4"] == incident.before["c4"]


def test_filters_narrow_the_repair(rig: Rig) -> None:
    incident = bad_deploy(rig)
    by_event = rig.run(incident.request(events=["REMOVE"], dry_run=True), "only-deletes")["report"]
    assert by_event["keys"]["affected"] == 2 and by_event["keys"]["put-back-deleted"] == 2
    by_key = rig.run(incident.request(keys=[{KEY: "c1"}, {KEY: {"S": "bad0"}}]), "two-keys")["report"]
    assert by_key["keys"]["affected"] == 2
    after = rig.items()
    assert after["c1"] == incident.before["c1"] and "bad0" not in after
    assert after["c0"]["email"] == "null@invalid" and "bad1" in after  # not selected: untouched
    where = rig.run(incident.request(where='deploy_version = "v42" AND begins_with(email, "null@")'), "where")
    assert where["report"]["keys"]["affected"] == 4  # c0..c3: their window changes match
    assert where["report"]["keys"]["already"] == 1  # c1 was repaired above
    after = rig.items()
    assert all(after[k] == incident.before[k] for k in incident.corrupted)
    assert "bad1" in after and "c4" not in after  # creations and deletions have no matching image


def test_ttl_deletions_are_never_undone_unless_asked(rig: Rig) -> None:
    rig.emulator.clients.client("dynamodb").update_time_to_live(
        TableName="customers", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    table = rig.table
    table.put_item(Item=customer(1, expires=1))  # long expired: DynamoDB's TTL will delete it
    table.put_item(Item=customer(2))
    rig.deliver()
    t1 = next_second()
    table.delete_item(Key={KEY: "c1"})  # DynamoDB's TTL (userIdentity below)
    table.update_item(
        Key={KEY: "c2"}, UpdateExpression="SET tier = :t", ExpressionAttributeValues={":t": "bad"}
    )
    t2 = next_second()
    records = rig.cdc.reader.read()
    for record in records:
        if record["eventName"] == "REMOVE":
            record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    rig.cdc.deliver(records, batch_size=10)
    request = {"table": "customers", "from": t1.isoformat(), "to": t2.isoformat()}
    report = rig.run({**request, "dry_run": True}, "ttl-dry")["report"]
    assert report["changes"]["in_window"] == {"TTL": 1, "MODIFY": 1}
    assert report["changes"]["selected"] == {"MODIFY": 1} and report["keys"]["affected"] == 1
    assert rig.run(request, "ttl-kept")["status"] == "SUCCEEDED"
    assert "c1" not in rig.items() and rig.items()["c2"]["tier"] == "free"
    # Asked explicitly: the TTL deletion is undone too.
    report = rig.run({**request, "include_ttl": True}, "ttl-asked")["report"]
    assert report["keys"]["put-back-deleted"] == 1 and report["keys"]["already"] == 1
    assert rig.items()["c1"] == customer(1, expires=1)


def test_a_repair_never_brings_back_a_key_erased_after_the_window_began(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22: the erasure list holds through a repair and its undo. c1 is erased (and deleted by
    the application) during the bad window, c2 is erased while still live; their pre-window images
    predate the erasures, so the repair deletes c2 (guarded) and writes neither back."""
    monkeypatch.setenv("DYNAMODB_DR_STACK", rig.stack.name)
    for n in range(4):
        rig.table.put_item(Item=customer(n))
    before = rig.items()
    t1 = next_second()
    for key in ("c0", "c1", "c2"):
        rig.table.update_item(
            Key={KEY: key},
            UpdateExpression="SET email = :e",
            ExpressionAttributeValues={":e": "null@invalid"},
        )
    rig.table.delete_item(Key={KEY: "c1"})  # the application erases c1 ...
    for key in ("c1", "c2"):  # ... and the operator records both (c2 still live), history kept
        assert main(["erase", "--table", "customers", "--key", json.dumps({KEY: key}), "--keep-history"]) == 0
    t2 = next_second()
    rig.deliver()
    request = {"table": "customers", "from": iso(t1), "to": iso(t2)}

    described = rig.run(request, "erased-keys")
    assert described["status"] == "SUCCEEDED", described
    after = rig.items()
    assert after["c0"] == before["c0"] and after["c3"] == before["c3"]
    assert "c1" not in after and "c2" not in after
    report = described["report"]
    assert report["status"] == "repaired"
    assert report["keys"]["erased"] == 2 and report["erasures"] == {"listed": 2, "erased": 2}
    assert report["keys"]["put-back-modified"] == 1 and report["keys"]["put-back-deleted"] == 0
    assert report["applied"]["written"] == 2  # c0 put back, c2 deleted (while it held the window's item)
    assert report["proof"]["unexplained"] == 0 and report["proof"]["checked"] == 2
    # Erased keys go nowhere new: not in the history, the stored report's sample or the message.
    history = json.dumps(
        rig.emulator.clients.client("stepfunctions").get_execution_history(
            executionArn=rig.executions[-1], maxResults=1000
        )["events"],
        default=str,
    )
    assert '"c1"' not in history and '"c2"' not in history
    assert [k[KEY]["S"] for k in rig.stored_report(described)["sample_keys"]] == ["c0"]

    # The undo puts c0's window item back, never an erased key's.
    undone = rig.run({"undo": "erased-keys"}, "undo-erased-keys")
    assert undone["status"] == "SUCCEEDED", undone
    after = rig.items()
    assert after["c0"]["email"] == "null@invalid"
    assert "c1" not in after and "c2" not in after
    assert undone["report"]["keys"]["erased"] == 1 and undone["report"]["applied"]["written"] == 1
