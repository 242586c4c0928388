"""The scheduled S3 export function on the emulator: a week of ticks, the chain, its failure modes.

The emulator's exports (emulator/exports.py) honour ExportTime / ExportFromTime / ExportToTime by
snapshotting the table at each export call, and the tests only write *between* ticks, so what an
export holds is the table at its window end. The chain assertions read the state table.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from conftest import load_event
from export_support import T0, Simulation, at, protect

from dynamodb_dr.exports.schedule import ExportTick
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

pytestmark = pytest.mark.integration


@pytest.fixture
def sim(emulator: Emulator, stack: DeployedStack, exports: ExportEmulation) -> Simulation:
    protect(emulator, exports, "customers")
    return Simulation(emulator, stack)


def test_a_week_of_ticks_builds_a_gap_free_chain(sim: Simulation, exports: ExportEmulation) -> None:
    # Incremental ticks every 4 hours for a week, FULL ticks daily (the chain logic does not depend
    # on the period; the emulator is slow enough to keep the tick count down).
    sim.hours(0, 24 * 7 + 1, step=4)

    chain = sim.chain()
    fulls = [r for r in chain if r.export_type == "FULL"]
    incrementals = sorted((r for r in chain if r.export_type == "INCREMENTAL"), key=lambda r: r.window_to)
    assert [f.window_to for f in fulls] == [at(24 * d) for d in range(8)]
    assert fulls[0].base and not any(f.base for f in fulls[1:])
    # Every window starts exactly where the previous one ended: no gap, no overlap.
    assert incrementals[0].window_from == fulls[0].window_to
    for previous, current in itertools.pairwise(incrementals):
        assert current.window_from == previous.window_to
    assert incrementals[-1].window_to == at(24 * 7)
    assert len(incrementals) == 24 * 7 // 4
    # Every export but the one the last tick started was followed to COMPLETED, with its facts.
    assert incrementals[-1].status == "IN_PROGRESS"
    for record in chain:
        if record is not incrementals[-1] and record.sk != incrementals[-1].sk:
            assert record.status == "COMPLETED", record.sk
            assert record.item_count is not None and record.manifest_key
    assert sim.store().gaps("customers") == []
    head = sim.store().head("customers")
    assert head.next_from == at(24 * 7 - 4) and head.gaps == 0
    # What DynamoDB was asked for matches the chain (one export per window, nothing twice).
    asked = [(e.export_from, e.export_time) for e in exports.started if e.export_from]
    assert asked == [(r.window_from, r.window_to) for r in incrementals]
    # Finished exports are indexed next to the data, for a rebuild that only has the bucket.
    listed = sim.emulator.clients.client("s3").list_objects_v2(
        Bucket=sim.bucket, Prefix="exports/customers/chain/"
    )
    assert listed["KeyCount"] == len(chain) - 1


def test_a_retried_tick_starts_no_second_export(sim: Simulation, exports: ExportEmulation) -> None:
    sim.hours(0, 3)
    started = len(exports.started)
    payload, errored = sim.run("export-incremental", at(2), attempt="2")
    assert not errored
    assert sim.table_result(payload)["action"] in {"waiting", "window-too-short", "exists"}
    payload, errored = sim.run("export-full", at(0), attempt="2")
    assert not errored
    assert len(exports.started) == started
    assert len([r for r in sim.chain() if r.export_type == "FULL"]) == 1


def test_an_export_in_progress_is_waited_for_not_duplicated(
    sim: Simulation, exports: ExportEmulation
) -> None:
    sim.hours(0, 2)
    exports.hold = True
    payload, _ = sim.run("export-incremental", at(2))
    assert sim.table_result(payload)["action"] == "started-incremental"
    for hour in (3, 4):
        payload, errored = sim.run("export-incremental", at(hour))
        assert not errored
        result = sim.table_result(payload)
        assert result["action"] == "waiting" and result["in_progress"]
    assert exports.finish_held() == 1
    exports.hold = False
    payload, _ = sim.run("export-incremental", at(5))
    result = sim.table_result(payload)
    assert result["action"] == "started-incremental"
    assert result["window"] == [at(2).isoformat(), at(5).isoformat()]  # the chain continues, gap-free


def test_windows_are_clamped_to_24_hours_and_short_ones_wait(sim: Simulation) -> None:
    sim.hours(0, 2)
    payload, _ = sim.run("export-incremental", at(1) + timedelta(minutes=10))
    assert sim.table_result(payload)["action"] == "window-too-short"
    payload, _ = sim.run("export-incremental", at(40))  # a day and a half without ticks
    assert sim.table_result(payload)["window"] == [at(1).isoformat(), at(25).isoformat()]
    payload, _ = sim.run("export-incremental", at(41))
    assert sim.table_result(payload)["window"] == [at(25).isoformat(), at(41).isoformat()]


def test_a_slid_pitr_window_starts_a_new_full_and_records_the_gap(
    sim: Simulation, exports: ExportEmulation
) -> None:
    sim.hours(0, 6)
    # Six hours without exports, and meanwhile the restorable window moved past the chain's end.
    exports.set_earliest_restorable("customers", at(10))
    payload, errored = sim.run("export-incremental", at(12))
    assert not errored
    result = sim.table_result(payload)
    assert result["gap"] and result["action"] == "started-full"
    gaps = sim.store().gaps("customers")
    assert [(g.gap_from, g.gap_to) for g in gaps] == [(at(5), at(12))]
    assert gaps[0].healed_by == result["started"]
    assert sim.store().head("customers").gaps == 1
    logs = sim.emulator.router.invocations[-1].logs
    assert '"ExportChainGaps":1' in logs.replace(" ", "") or '"ExportChainGaps":[1' in logs.replace(" ", "")
    # Incrementals wait for the new base, then continue from its export time.
    payload, _ = sim.run("export-incremental", at(13))
    assert sim.table_result(payload)["window"] == [at(12).isoformat(), at(13).isoformat()]


def test_pitr_off_fails_the_table_then_the_chain_is_rebased(
    sim: Simulation, exports: ExportEmulation
) -> None:
    sim.hours(0, 3)
    dynamodb = sim.emulator.clients.client("dynamodb")
    dynamodb.update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    payload, errored = sim.run("export-incremental", at(3))
    assert errored and payload["errorType"] == "ExportRunFailed"
    dynamodb.update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    exports.set_earliest_restorable("customers", at(3) + timedelta(minutes=30))
    payload, errored = sim.run("export-incremental", at(4))
    assert not errored
    assert sim.table_result(payload)["gap"] and sim.table_result(payload)["action"] == "started-full"


def test_a_failed_export_is_notified_and_its_window_exported_again(
    sim: Simulation, exports: ExportEmulation, emulator: Emulator, stack: DeployedStack
) -> None:
    sqs = emulator.clients.client("sqs")
    queue = sqs.create_queue(QueueName="export-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    emulator.clients.client("sns").subscribe(
        TopicArn=stack.outputs["ExportNotificationTopicArn"], Protocol="sqs", Endpoint=queue_arn
    )
    sim.hours(0, 2)
    exports.fail_next = "UNKNOWN"
    payload, _ = sim.run("export-incremental", at(2))
    failed_sk = sim.table_result(payload)["started"]
    payload, errored = sim.run("export-incremental", at(3))
    result = sim.table_result(payload)
    assert not errored  # the export failed inside DynamoDB; this run itself worked
    assert result["tracked"] == {failed_sk: "FAILED"} and result["failed_exports"] == [failed_sk]
    assert result["window"] == [at(1).isoformat(), at(3).isoformat()]  # same start: no gap
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    notice = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert notice["table"] == "customers" and notice["status"] == "FAILED"


def test_one_tables_failure_does_not_stop_the_others(emulator: Emulator, exports: ExportEmulation) -> None:
    create_customers_table(emulator.clients.client("dynamodb"), "customers")
    create_customers_table(emulator.clients.client("dynamodb"), "orders")
    stack = emulator.deploy(parameters={"ProtectedTables": "orders,customers"})
    protect(emulator, exports, "customers")  # orders keeps PITR off: it cannot be exported
    sim = Simulation(emulator, stack)
    payload, errored = sim.run("export-full", T0)
    assert errored and "orders" in payload["errorMessage"]
    chain = sim.chain("customers")
    assert [r.export_type for r in chain] == ["FULL"]
    assert sim.chain("orders") == []


def test_sample_events_parse() -> None:
    for name in ("scheduler-export-full.json", "scheduler-export-incremental.json"):
        tick = ExportTick.model_validate(load_event(name))
        assert tick.task.startswith("export-")


def test_a_tick_that_died_after_starting_an_export_resumes_it_with_the_same_token(
    sim: Simulation, exports: ExportEmulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dynamodb_dr.exports.api import DynamoExports

    sim.hours(0, 2)
    original = DynamoExports.start

    def start_then_die(self: DynamoExports, **kwargs: object) -> str:
        original(self, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("Lambda timed out before recording the export")

    monkeypatch.setattr(DynamoExports, "start", start_then_die)
    payload, errored = sim.run("export-incremental", at(2))
    assert errored and "timed out" in payload["errorMessage"]
    monkeypatch.setattr(DynamoExports, "start", original)
    started = len(exports.started)
    payload, errored = sim.run("export-incremental", at(2), attempt="2")  # the scheduler's retry
    assert not errored and sim.table_result(payload)["action"] == "started-incremental"
    assert len(exports.started) == started  # AWS returned the export the first attempt started
    record = next(r for r in sim.chain() if r.window_to == at(2))
    assert record.status == "IN_PROGRESS" and record.export_arn == exports.started[-1].arn
    payload, _ = sim.run("export-incremental", at(3))
    assert sim.table_result(payload)["tracked"] == {record.sk: "COMPLETED"}


def test_exports_stay_inside_the_pitr_window_and_a_retried_full_tick_is_not_repeated(
    sim: Simulation, exports: ExportEmulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from dynamodb_dr_local.emulator.pitr import CONTROL

    # On AWS the restorable window ends about five minutes before now: a tick at "now" cannot
    # export "now".
    monkeypatch.setattr(CONTROL, "latest_lag_seconds", 300)
    now = datetime.now(UTC).replace(microsecond=0)
    exports.set_earliest_restorable("customers", now - timedelta(hours=3))
    payload, errored = sim.run("export-full", now)
    assert not errored and sim.table_result(payload)["action"] == "started-full"
    (record,) = sim.chain()
    assert now - timedelta(minutes=6) < record.window_to < now - timedelta(minutes=4)
    started = len(exports.started)
    payload, errored = sim.run("export-full", now, attempt="2")  # minutes later: another export time
    assert not errored and sim.table_result(payload)["action"] == "exists"
    assert len(exports.started) == started
    payload, _ = sim.run("export-incremental", now + timedelta(minutes=15))
    assert sim.table_result(payload)["action"] == "window-too-short"  # the window end is capped too
