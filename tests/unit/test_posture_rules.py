"""Posture rules on fake sources: RPO over recovery sources, unknown is never met, failures isolated."""

from __future__ import annotations

import pytest
from posture_fakes import Fakes, ago, pitr_on, rehearsal, run

from dynamodb_dr.core.errors import AccessDenied, TableNotFound, TransientAwsError
from dynamodb_dr.posture.metrics import aggregate_doc, table_docs
from dynamodb_dr.posture.sources import BackupSummaryView, ExportSummaryView


def test_worst_case_rpo_is_the_freshest_recovery_source():
    fakes = Fakes(
        pitr={"customers": pitr_on(300)},
        backups={"customers": BackupSummaryView(ago(hours=5), 2, 2, False)},
        exports={
            "customers": ExportSummaryView(
                {"FULL": ago(hours=20), "INCREMENTAL": ago(minutes=40)}, 0, 0, 0, True
            )
        },
        cdc={"customers": ago(seconds=30)},
        history={"customers": [rehearsal("SUCCEEDED", 1200)]},
    )
    (t,) = run(fakes).tables
    assert t.rpo_source == "pitr" and t.worst_case_rpo_seconds == 300
    assert t.rpo_met is True and t.rto_met is True
    assert t.exports is not None and t.exports.age_seconds == {"FULL": 72000.0, "INCREMENTAL": 2400.0}
    assert t.status == "ok"
    doc = table_docs(t)[0].values
    assert doc["RpoMet"][0] == 1 and doc["PitrLagSeconds"][0] == 300 and doc["CdcArchiveLagSeconds"][0] == 30


def test_without_pitr_the_newest_backup_or_export_sets_the_rpo():
    fakes = Fakes(
        backups={"customers": BackupSummaryView(ago(hours=5), 1, 1, False)},
        exports={
            "customers": ExportSummaryView(
                {"FULL": ago(hours=20), "INCREMENTAL": ago(hours=1)}, 0, 0, 0, True
            )
        },
    )
    (t,) = run(fakes).tables
    assert t.rpo_source == "export" and t.worst_case_rpo_seconds == 3600
    assert t.rpo_met is False and t.status == "at_risk"


def test_incrementals_without_a_full_base_are_not_a_recovery_point():
    fakes = Fakes(exports={"customers": ExportSummaryView({"INCREMENTAL": ago(minutes=5)}, 0, 0, 0, False)})
    (t,) = run(fakes).tables
    assert t.worst_case_rpo_seconds is None
    assert t.rpo_met is False  # every source read, none recoverable


def test_an_unreadable_source_makes_the_rpo_unknown_not_met():
    fakes = Fakes(backups={"customers": AccessDenied("AccessDeniedException: no ListBackups")})
    (t,) = run(fakes).tables
    assert t.rpo_met is None
    assert t.unknown["backups"].startswith("AccessDenied")
    assert t.status == "at_risk"  # PITR is off
    docs = table_docs(t)[0].values
    assert docs["RpoMet"][0] == 0 and docs["PostureCheckFailures"][0] == 1
    assert aggregate_doc(run(fakes)).values["TablesRpoNotMet"][0] == 1


def test_a_deleted_or_throttled_table_fails_alone():
    fakes = Fakes(
        describe={
            "gone": TableNotFound("ResourceNotFoundException"),
            "busy": TransientAwsError("Throttling"),
        },
        pitr={"customers": pitr_on(10)},
    )
    report = run(fakes, "gone", "customers", "busy")
    by = {t.logical_name: t for t in report.tables}
    assert by["gone"].status == "failed" and by["gone"].error and by["gone"].error.startswith("TableNotFound")
    assert (
        by["busy"].status == "failed"
        and by["busy"].error
        and by["busy"].error.startswith("TransientAwsError")
    )
    assert by["customers"].rpo_met is True
    assert report.failed_tables == ["gone", "busy"]
    aggregate = aggregate_doc(report).values
    assert aggregate["PostureCheckFailures"][0] == 2
    assert aggregate["TablesRpoNotMet"][0] == 2
    assert "WorstCaseRpoSeconds" not in aggregate  # some table has no known RPO: missing = breaching


def test_dead_letter_queue_unreadable_is_unknown_for_every_table():
    fakes = Fakes(pitr={"customers": pitr_on(10)}, dead_letters=AccessDenied("sqs"))
    (t,) = run(fakes).tables
    assert "cdc_failures" in t.unknown and t.status == "unknown"


def test_global_table_replicas_and_latency():
    replicas = {
        "Replicas": [
            {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"},
            {"RegionName": "us-west-2", "ReplicaStatus": "CREATING"},
        ]
    }
    fakes = Fakes(
        describe={"customers": replicas},
        pitr={"customers": pitr_on(10)},
        latency={"eu-west-1": 850.0},
        history={"customers": [rehearsal("SUCCEEDED", 60)]},
    )
    report = run(fakes)
    (t,) = report.tables
    assert [(r.region, r.status, r.latency_ms) for r in t.replicas or []] == [
        ("eu-west-1", "ACTIVE", 850.0),
        ("us-west-2", "CREATING", None),
    ]
    assert t.status == "at_risk"
    doc = table_docs(t)[0].values
    assert doc["ReplicaCount"][0] == 2 and doc["ReplicationLatency"][0] == 850.0
    assert aggregate_doc(report).values["ReplicasNotActive"][0] == 1


@pytest.mark.parametrize(
    ("history", "rto_met", "failed"),
    [
        ([], None, False),
        ([rehearsal("SUCCEEDED", 5400)], False, False),
        ([rehearsal("FAILED", 30, "20261201T040000Z"), rehearsal("SUCCEEDED", 600)], False, True),
        ([rehearsal("RUNNING", None, "20261201T040000Z"), rehearsal("SUCCEEDED", 600)], True, False),
    ],
)
def test_rto_comes_from_the_latest_successful_rehearsal(history, rto_met, failed):
    (t,) = run(Fakes(pitr={"customers": pitr_on(10)}, history={"customers": history})).tables
    assert t.rto_met is rto_met
    assert t.rto is not None and t.rto.latest_failed is failed
