"""The repair under faults: lost responses, throttling, a stop at the time budget, a crash in the
middle of a chunk, a failed run resumed, and a repair undone (from its plan, and by repairing its
own window from the archive)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from repair_support import KEY, Rig, bad_deploy, sign_ups

from dynamodb_dr.repair import apply as apply_module
from dynamodb_dr.repair import plan as plan_module
from dynamodb_dr.repair.apply import ApplyDeps, apply_lane
from dynamodb_dr.repair.models import LaneProgress
from dynamodb_dr.repair.store import RepairStore
from dynamodb_dr.repair.table import LiveTable
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator import faults as f
from dynamodb_dr_local.emulator.faults import FaultInjector, touches_table

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(emulator: Emulator, stack: DeployedStack, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setattr(plan_module, "CHUNK_SIZE", 2)  # several chunks (and lanes) from a few keys
    return Rig.create(emulator, stack)


def _repair_writes(rig: Rig, keys: list[str]) -> Counter[str]:
    """How many stream records (writes with effect) each key received since the last delivery."""
    records = rig.cdc.reader.read()
    rig.cdc.deliver(records, batch_size=100)
    return Counter(
        r["dynamodb"]["Keys"][KEY]["S"] for r in records if r["dynamodb"]["Keys"][KEY]["S"] in keys
    )


def _subscribe(rig: Rig) -> str:
    sqs, sns = rig.emulator.clients.client("sqs"), rig.emulator.clients.client("sns")
    url = sqs.create_queue(QueueName="repair-notes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=rig.stack.outputs["RepairTopicArn"], Protocol="sqs", Endpoint=arn)
    return url


def _messages(rig: Rig, url: str) -> list[dict[str, Any]]:
    found = rig.emulator.clients.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in found.get("Messages", [])]


def _affected(incident: Any) -> list[str]:
    return [*incident.corrupted, *incident.deleted, *incident.created]


def test_lost_responses_and_throttling_write_each_key_exactly_once(rig: Rig) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))
    with FaultInjector(seed=3) as faults:
        customers = touches_table("customers")
        faults.add(
            "dynamodb", "PutItem", f.READ_TIMEOUT, applied=True, times=2, when=customers
        )  # answer lost
        faults.add("dynamodb", "DeleteItem", f.INTERNAL_SERVER_ERROR, applied=True, times=1, when=customers)
        faults.throttle("dynamodb", "PutItem", provisioned=True, times=3, when=customers)
        described = rig.run(incident.request(), "faulty")
    assert described["status"] == "SUCCEEDED", described
    report = faults.report()
    assert report.count("dynamodb", "PutItem", f.PROVISIONED_THROUGHPUT_EXCEEDED) == 3
    assert report.count("dynamodb", "PutItem", f.READ_TIMEOUT) == 2
    applied = described["report"]["applied"]
    assert applied["written"] == 8 and applied["already_repaired"] == 0 and applied["throttled"] == 3
    assert applied["retries"] >= 6
    after = rig.items()
    assert {k: after.get(k) for k in incident.before} == incident.before
    assert all(after[k] == v for k, v in incident.after.items())
    writes = _repair_writes(rig, _affected(incident))
    assert set(writes.values()) == {1} and len(writes) == 8, writes  # never twice with effect


def test_a_time_budget_stop_resumes_in_the_next_invocation(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_module, "RESERVE_SECONDS", 10_000.0)  # every invocation: one chunk, then stop
    monkeypatch.setattr(plan_module, "CHUNK_SIZE", 1)
    incident = bad_deploy(rig)
    described = rig.run(incident.request(), "budget")
    assert described["status"] == "SUCCEEDED", described
    applied = described["report"]["applied"]
    assert applied["written"] == 8 and applied["lanes"] == 8 and applied["lanes_done"] == 8
    after = rig.items()
    assert {k: after.get(k) for k in incident.before} == incident.before


def test_a_failed_repair_reports_what_it_applied_then_resumes_cleanly(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply_module, "MAX_ATTEMPTS", 3)  # fail fast, without real back-off time
    notes = _subscribe(rig)
    incident = bad_deploy(rig, after=sign_ups(1))
    with FaultInjector(seed=5) as faults:
        faults.server_error(  # the table's writes fail after 3 of them
            "dynamodb", "PutItem", unavailable=True, skip=3, when=touches_table("customers")
        )
        failed = rig.run(incident.request(), "interrupted")
    assert failed["status"] == "FAILED" and failed["error"] == "RepairApplyFailed", failed
    repairs = RepairStore(rig.emulator.clients.client("s3"), rig.bucket)
    header = repairs.header("customers", "interrupted")
    applied = sum(repairs.progress(header, lane.lane).written for lane in header.lanes)
    assert 3 <= applied < 8
    [failure] = _messages(rig, notes)  # the failure says what was applied and how to go on
    assert failure["applied"]["written"] == applied and failure["error"] == "RepairApplyFailed"
    assert failure["resume"]["console"] == {"resume": "interrupted"}
    assert failure["undo"]["console"] == {"undo": "interrupted"}
    resumed = rig.run({"resume": "interrupted"}, "interrupted-resumed")
    assert resumed["status"] == "SUCCEEDED", resumed
    report = resumed["report"]
    assert report["applied"]["written"] == 8 and report["proof"]["proven"] == 8
    assert len(rig.backups()) == 1  # the resumed run kept the first run's backup
    after = rig.items()
    assert {k: after.get(k) for k in incident.before} == incident.before
    writes = _repair_writes(rig, _affected(incident))
    assert set(writes.values()) == {1} and len(writes) == 8, writes


def test_a_crash_inside_a_chunk_counts_its_writes_once_on_resume(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "CHUNK_SIZE", 8)  # one chunk, one lane
    incident = bad_deploy(rig)
    assert rig.run(incident.request(), "crash")["status"] == "SUCCEEDED"
    assert rig.run({"undo": "crash"}, "crash-undo")["status"] == "SUCCEEDED"  # the corruption is back
    store = RepairStore(rig.emulator.clients.client("s3"), rig.bucket)
    header = store.header("customers", "crash")
    assert len(header.lanes) == 1 and header.chunks == 1
    store.save_progress(header, LaneProgress(lane=0, next_chunk=0))  # as if never applied
    client = rig.emulator.clients.client("dynamodb", retries=False)

    class DiesAfterThreeWrites:
        calls = 0

        def __getattr__(self, name: str) -> Any:
            method = getattr(client, name)

            def call(**kwargs: Any) -> Any:
                self.calls += 1
                if self.calls > 3:
                    raise SystemError("killed")  # the process is gone: nothing more is sent
                return method(**kwargs)

            return call

    deps = ApplyDeps(
        store=store,
        reader=LiveTable(rig.emulator.clients.client("dynamodb")),
        writer_client=DiesAfterThreeWrites(),  # type: ignore[arg-type]
        workers=1,
        remaining_seconds=lambda: 900.0,
    )
    with pytest.raises(SystemError):
        apply_lane(header, 0, deps)
    progress = store.progress(header, 0)
    assert progress.inflight == progress.next_chunk == 0 and not progress.done
    assert sum(1 for k in _affected(incident) if rig.items().get(k) == incident.before.get(k)) == 3
    deps.writer_client = client
    progress = apply_lane(header, 0, deps)
    assert progress.done and progress.written == 8 and progress.already == 0 and progress.invocations == 2
    after = rig.items()
    assert {k: after.get(k) for k in incident.before} == incident.before


def test_undo_from_the_plan_and_by_repairing_the_repairs_window(rig: Rig) -> None:
    incident = bad_deploy(rig, after=sign_ups(2))
    corrupted = rig.items()
    repaired = rig.run(incident.request(), "to-undo")
    assert repaired["status"] == "SUCCEEDED"
    after_repair = rig.items()
    dry = rig.run({"undo": "to-undo", "dry_run": True}, "undo-dry")
    assert dry["report"]["keys"]["writes"] == 8 and rig.items() == after_repair
    undone = rig.run({"undo": "to-undo"}, "undo")
    assert undone["status"] == "SUCCEEDED", undone
    assert undone["report"]["status"] == "undone" and undone["report"]["proof"]["proven"] == 8
    assert rig.items() == corrupted  # exactly the state before the repair
    # The undo's own writes were archived like any change: repairing the undo's window (the
    # report says which) undoes the undo, i.e. repairs again.
    rig.deliver()
    window = undone["report"]["undo"]["window"]
    again = rig.run({"table": "customers", "from": window["from"], "to": window["to"]}, "redo")
    assert again["status"] == "SUCCEEDED", again
    assert again["report"]["keys"]["affected"] == 8
    assert rig.items() == after_repair
