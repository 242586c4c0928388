"""The DR drill end to end at a small size: the story must PASS, and a failed recovery must FAIL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill import repair as drill_repair
from dynamodb_dr_local.drill.run import DrillOptions, run_drill
from dynamodb_dr_local.emulator.faults import ACCESS_DENIED, FaultInjector

pytestmark = pytest.mark.integration

SMALL = {"items": 300, "backup_days": 3, "rounds": 2, "writes_per_round": 20, "good_writes_after_incident": 5}


def test_small_drill_recovers_the_pre_incident_table(tmp_path, capsys):
    report_file = tmp_path / "report.json"
    report = run_drill(DrillOptions(**SMALL, report_file=report_file))
    captured = capsys.readouterr()
    out = captured.out
    assert report.passed, out
    incident = report.stages["incident"]
    assert incident["items_verified"] == incident["items_expected"] > 0
    assert incident["corrupted"] > 0 and incident["deleted"] > 0
    assert incident["live_table"].startswith("customers-dr-")
    assert report.objectives["rpo_met"] and report.objectives["rto_met"]
    saved = json.loads(report_file.read_text())
    assert saved["checks"] == report.checks and saved["passed"] is True
    assert "DRILL PASS" in out and "Recovery report" in out
    # progress is on stderr, the story's tables and the report on stdout, no carriage returns
    assert "state machine: ValidateRequest" in captured.err and "state machine: ValidateRequest" not in out
    assert "\r" not in captured.err + out


def test_the_drill_repairs_in_place_first_and_sets_both_paths_side_by_side(capsys):
    report = run_drill(DrillOptions(**SMALL))
    out = capsys.readouterr().out
    assert report.passed, out
    repair = report.stages["repair"]
    incident = report.stages["incident"]
    damaged = incident["corrupted"] + incident["deleted"]
    # item for item: the damaged customers back, the sign-ups after the window kept, no cutover
    assert repair["status"] == "SUCCEEDED" and repair["damaged"] == damaged > 0
    assert repair["repaired_exactly"] == damaged and repair["others_unchanged"] is True
    assert repair["signups_kept"] == repair["signups"] == SMALL["good_writes_after_incident"]
    assert repair["report"]["live_table"] == "customers" and repair["report"]["backup"]["arn"]
    assert repair["report"]["proof"]["proven"] == damaged and repair["report"]["proof"]["unexplained"] == 0
    assert repair["writes_archived"] == repair["report"]["applied"]["written"] == damaged
    # the dry run came first and planned the same keys, writing nothing
    assert repair["dry_run"]["affected"] == damaged
    assert repair["window"]["from"] == incident["incident_at"].replace("+00:00", "Z")
    kinds = {p["kind"] for p in repair["rto_parts"]}
    assert {"measured", "assumed", "estimate"} <= kinds
    assert repair["rto_seconds"] < report.objectives["rto_projected_seconds"]
    assert "Repair in place vs PITR restore (same incident)" in out
    assert "choose the restore when the table is lost, the archive has a gap" in out
    assert "PASS  repair in place: every good sign-up after the window kept" in out


def test_a_repair_that_cannot_write_fails_the_drill_while_the_restore_still_recovers(capsys, monkeypatch):
    def repair_write(params: Mapping[str, Any]) -> bool:
        return params.get("TableName") == "customers" and "ConditionExpression" in params

    run_stage = drill_repair.run_repair_stage

    def denied_repair(*args: Any, **kwargs: Any) -> Any:
        # Only during the repair stage: the drill's later stuck-archiver stage injects its own.
        with FaultInjector(seed=1) as faults:
            faults.add("dynamodb", "PutItem", ACCESS_DENIED, when=repair_write)
            faults.add("dynamodb", "DeleteItem", ACCESS_DENIED, when=repair_write)
            return run_stage(*args, **kwargs)

    monkeypatch.setattr(drill_repair, "run_repair_stage", denied_repair)
    report = run_drill(DrillOptions(**SMALL))
    out = capsys.readouterr().out
    assert not report.passed
    assert report.stages["repair"]["status"] == "FAILED"
    assert report.stages["repair"]["repaired_exactly"] == 0
    assert "FAIL  repair in place: every damaged customer back exactly, nothing else touched" in out
    assert report.checks["live table equals the pre-incident state, item by item"] is True
    assert "DRILL FAIL" in out


def test_the_report_counts_the_data_actually_lost_and_keeps_assumed_times_apart(capsys):
    report = run_drill(DrillOptions(**SMALL, detect_minutes=2, real_items=1_000_000))
    out = capsys.readouterr().out
    objectives = report.objectives
    # RPO: the good sign-ups after T are what the restored table lacks (all in the archive)
    assert objectives["lost_writes"] == SMALL["good_writes_after_incident"]
    assert objectives["lost_writes_in_archive"] == objectives["lost_writes"]
    assert 0 <= objectives["rpo_achieved_seconds"] == objectives["lost_span_seconds"] < 60
    assert objectives["restore_point"] == report.stages["incident"]["incident_at"]
    parts = {p["name"]: p for p in objectives["rto_parts"]}
    # PITR trails by ~5 minutes: the restore cannot start sooner whatever --detect-minutes says
    assert parts["detection and response, until the restore starts"]["seconds"] == 300
    assert parts["detection and response, until the restore starts"]["kind"] == "assumed"
    assert parts["restore state machine: orchestration"]["kind"] == "measured"
    estimate = parts["validation at 1,000,000 items"]
    assert estimate["kind"] == "estimate" and estimate["seconds"] == 1_000_000 / (4 * 5_000)
    counted = sum(p["seconds"] for p in objectives["rto_parts"] if p["kind"] != "measured, not counted")
    assert objectives["rto_projected_seconds"] == round(counted, 1)
    assert "MEASURED  ASSUMED" in out and "good writes after the restore point" in out


def test_json_output_is_the_report_alone(capsys):
    assert main(["drill", "--items", "200", "--backup-days", "3", "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["passed"] is True and document["objectives"]["rpo_met"] is True
    assert "[" in captured.err and "DRILL" not in captured.out


def test_a_recovery_that_fails_validation_fails_the_drill_and_cuts_nothing_over(capsys):
    report = run_drill(DrillOptions(**SMALL, validation={"segments": 2, "min_items": 10**9}))
    out = capsys.readouterr().out
    assert not report.passed
    assert report.stages["incident"]["execution_status"] == "FAILED"
    assert report.stages["incident"]["live_table"] == "customers"
    assert "FAIL  live table equals the pre-incident state, item by item" in out
    assert "DRILL FAIL" in out


def test_cli_rejects_bad_flags_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["drill", "--corruption-share", "1.5"])
    assert exit_info.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
