"""CDC archive freshness in the posture (issue 20): at risk for each failure route, never for a
quiet table; the provable reach, and the archive as an RPO source only on a base it replays onto."""

from __future__ import annotations

from datetime import timedelta

import pytest
from posture_fakes import NOW, Fakes, ago, dead_letter, pitr_on, run, streaming

from dynamodb_dr.core.config import TablePolicy
from dynamodb_dr.core.errors import AccessDenied
from dynamodb_dr.posture.metrics import aggregate_doc, table_docs
from dynamodb_dr.posture.sources import BackupSummaryView, ExportSummaryView


def minute(**kwargs: float) -> list:
    return [ago(**kwargs).replace(second=0, microsecond=0)]


def codes(fakes: Fakes, table: str = "customers", *tables: str) -> list[str]:
    report = run(fakes, table, *tables)
    found = next(t for t in report.tables if t.logical_name == table)
    assert found.cdc is not None
    return [risk.split(":", 1)[0] for risk in found.cdc.risks]


def test_a_quiet_table_is_fresh_however_old_its_archive():
    fakes = Fakes(
        pitr={"customers": pitr_on(60)},
        cdc={"customers": ago(days=3)},
        newest_change={"customers": ago(days=3)},
    )
    report = run(fakes)
    (t,) = report.tables
    assert t.cdc is not None and t.cdc.risks == [] and t.cdc.lag_seconds == 3 * 86400
    assert t.cdc.reach == ago(days=3)  # provably reaches its last change: nothing was written since
    assert table_docs(t)[0].values["CdcArchiveAtRisk"][0] == 0
    assert aggregate_doc(report).values["TablesCdcAtRisk"][0] == 0


def test_writes_the_archive_does_not_hold_put_the_table_at_risk():
    fakes = Fakes(newest_change={"customers": ago(minutes=30)}, writes={"customers": minute(minutes=10)})
    report = run(fakes)
    (t,) = report.tables
    assert t.cdc is not None and t.status == "at_risk"
    assert [r.split(":")[0] for r in t.cdc.risks] == ["unarchived-writes"]
    assert t.cdc.unarchived_writes_since == minute(minutes=10)[0]
    assert table_docs(t)[0].values["CdcArchiveAtRisk"][0] == 1
    assert aggregate_doc(report).values["TablesCdcAtRisk"][0] == 1


@pytest.mark.parametrize(
    ("written", "newest", "stale"),
    [
        (timedelta(seconds=30), None, False),  # still within the batching window + processing
        (timedelta(minutes=3), None, True),  # nothing archived at all
        (timedelta(minutes=3), timedelta(minutes=2, seconds=50), False),  # that minute is archived
        (timedelta(minutes=3), timedelta(minutes=4), True),  # archive ends before that minute
    ],
)
def test_writes_count_only_once_they_are_old_enough_to_be_archived(written, newest, stale):
    fakes = Fakes(
        writes={"customers": [(NOW - written).replace(second=0, microsecond=0)]},
        newest_change={"customers": NOW - newest if newest else None},
    )
    assert ("unarchived-writes" in codes(fakes)) is stale


@pytest.mark.parametrize(
    ("state", "result", "code"),
    [
        (None, "OK", "no-mapping"),
        ("Disabled", "OK", "mapping-disabled"),
        ("Enabled", "PROBLEM: Function call failed", "mapping-problem"),
    ],
)
def test_a_missing_disabled_or_failing_mapping_is_at_risk_even_when_quiet(state, result, code):
    fakes = Fakes(mapping_state={"customers": state}, last_result={"customers": result})
    assert codes(fakes) == [code]


def test_the_stream_turned_off_is_at_risk():
    fakes = Fakes(describe={"customers": streaming("customers", enabled=False)})
    assert "stream-off" in codes(fakes)


def test_a_mapping_behind_its_tables_own_rpo_objective_is_at_risk():
    assert codes(Fakes(lag={"customers": 14 * 60})) == []
    assert codes(Fakes(lag={"customers": 16 * 60})) == ["behind"]
    tight = Fakes(lag={"customers": 6 * 60})
    (t,) = run(tight, policy=TablePolicy(rpo_minutes=5)).tables
    assert t.cdc is not None and [r.split(":")[0] for r in t.cdc.risks] == ["behind"]
    assert t.cdc.mapping_lag_seconds == 360


def test_without_per_mapping_metrics_the_functions_slowest_mapping_counts_for_each():
    fakes = Fakes(function_lag=20 * 60)
    assert codes(fakes, "customers", "orders") == ["behind"]
    assert codes(Fakes(function_lag=60), "customers", "orders") == []


def test_dead_letters_are_charged_to_the_table_whose_stream_they_name():
    gap = dead_letter("orders", ago(hours=3), ago(hours=2, minutes=50))
    fakes = Fakes(
        dead_letters=1,
        gaps=[gap],
        newest_change={"customers": ago(minutes=1), "orders": ago(minutes=1)},
    )
    report = run(fakes, "customers", "orders")
    by = {t.logical_name: t for t in report.tables}
    assert by["customers"].cdc is not None and by["customers"].cdc.risks == []
    orders = by["orders"].cdc
    assert orders is not None and [r.split(":")[0] for r in orders.risks] == ["dead-letters"]
    assert "3 change(s) of orders" in orders.risks[0]
    # The archive is gap-free again only after the lost batch: coverage restarts there.
    assert orders.covered_since == gap.last and orders.reach == ago(minutes=1)
    assert by["customers"].cdc.dead_letters == 1  # the shared queue depth is still shown


def test_unreadable_dead_letters_put_every_table_at_risk_and_prove_no_reach():
    fakes = Fakes(dead_letters=2, newest_change={"customers": ago(minutes=1)})
    (t,) = run(fakes).tables
    assert t.cdc is not None and [r.split(":")[0] for r in t.cdc.risks] == ["dead-letters-unread"]
    assert t.cdc.reach is None


def test_a_gap_after_the_newest_change_leaves_no_provable_reach():
    fakes = Fakes(
        dead_letters=1,
        gaps=[dead_letter("customers", ago(minutes=20), ago(minutes=10))],
        newest_change={"customers": ago(minutes=30)},
    )
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.reach is None


def test_a_batch_dropped_without_a_failure_queue_message_ends_every_streams_proof():
    # Lambda could not send the position (DestinationDeliveryFailures): the stream is unknown.
    fakes = Fakes(
        pitr={"customers": pitr_on(300)},
        newest_change={"customers": ago(minutes=30)},
        dropped_until=ago(minutes=10),
    )
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.covered_since == ago(minutes=10) and t.cdc.reach is None
    assert t.rpo_source == "pitr"
    later = Fakes(newest_change={"customers": ago(minutes=5)}, dropped_until=ago(minutes=10))
    (t,) = run(later).tables
    assert t.cdc is not None and t.cdc.reach == ago(minutes=5)  # whole again after the drop


def test_unknown_drops_prove_no_reach():
    fakes = Fakes(newest_change={"customers": ago(minutes=5)}, fleet_errors={"lags": AccessDenied("denied")})
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.reach is None


def test_the_reach_is_held_back_by_the_mappings_iterator_age():
    fakes = Fakes(newest_change={"customers": ago(seconds=5)}, lag={"customers": 120})
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.reach is not None
    assert t.cdc.reach <= ago(seconds=120)  # another shard may still be that far behind


def test_the_archive_is_the_rpo_source_when_it_replays_onto_pitr():
    fakes = Fakes(pitr={"customers": pitr_on(300)}, newest_change={"customers": ago(seconds=20)})
    (t,) = run(fakes).tables
    assert t.rpo_source == "cdc-archive" and t.worst_case_rpo_seconds == 20
    assert t.cdc is not None and t.cdc.replayable_from == "pitr" and t.cdc.reach_age_seconds == 20
    assert table_docs(t)[0].values["CdcReachAgeSeconds"][0] == 20


def test_the_archive_needs_a_base_inside_its_coverage():
    # Coverage starts after the only backup: replaying from that backup would miss changes.
    fakes = Fakes(
        backups={"customers": BackupSummaryView(ago(hours=5), 1, 1, False)},
        newest_change={"customers": ago(seconds=20)},
        covered_since={"customers": ago(hours=1)},
    )
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.reach == ago(seconds=20) and t.cdc.replayable_from is None
    assert t.rpo_source == "backup" and t.rpo_met is False
    within = Fakes(
        exports={"customers": ExportSummaryView({"FULL": ago(minutes=40)}, 0, 0, 0, True)},
        newest_change={"customers": ago(seconds=20)},
        covered_since={"customers": ago(hours=1)},
    )
    (t,) = run(within).tables
    assert t.rpo_source == "cdc-archive" and t.cdc is not None and t.cdc.replayable_from == "export"
    assert t.rpo_met is True


def test_without_a_coverage_record_nothing_is_claimed():
    fakes = Fakes(
        pitr={"customers": pitr_on(300)},
        newest_change={"customers": ago(seconds=20)},
        covered_since={"customers": None},
    )
    (t,) = run(fakes).tables
    assert t.cdc is not None and t.cdc.reach is None and t.rpo_source == "pitr"


@pytest.mark.parametrize("failing", ["mappings", "lags", "writes"])
def test_an_unreadable_fleet_source_is_unknown_and_counts_as_at_risk(failing):
    fakes = Fakes(pitr={"customers": pitr_on(10)}, fleet_errors={failing: AccessDenied("denied")})
    report = run(fakes)
    (t,) = report.tables
    assert any(k.startswith("cdc_") for k in t.unknown) and t.status == "unknown"
    assert aggregate_doc(report).values["TablesCdcAtRisk"][0] == 1
    assert table_docs(t)[0].values["CdcArchiveAtRisk"][0] == 1


def test_dead_letters_of_the_tables_it_was_before_a_cutover_count_too():
    earlier = dead_letter("customers-dr-20261101", ago(hours=5), ago(hours=5))
    other = dead_letter("customersarchive", ago(hours=5), ago(hours=5))  # a name that only starts alike
    fakes = Fakes(dead_letters=2, gaps=[earlier, other], newest_change={"customers": ago(minutes=1)})
    (t,) = run(fakes).tables
    assert t.cdc is not None and [r.split(":")[0] for r in t.cdc.risks] == ["dead-letters"]
    assert "1 batch(es)" in t.cdc.risks[0]
    assert t.cdc.reach == ago(minutes=1)  # the gap is on another stream: the live one is whole


def test_writes_from_before_the_live_streams_coverage_are_the_gaps_business():
    # The stream was turned off and on again 10 minutes ago: writes made before are in no stream
    # (CdcStreamGap said so); a quiet table since is not at risk for them.
    fakes = Fakes(writes={"customers": minute(minutes=20)}, covered_since={"customers": ago(minutes=10)})
    assert codes(fakes) == []
    later = Fakes(writes={"customers": minute(minutes=5)}, covered_since={"customers": ago(minutes=10)})
    assert codes(later) == ["unarchived-writes"]
