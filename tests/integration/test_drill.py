"""The DR drill end to end at a small size: the story must PASS, and a failed recovery must FAIL."""

from __future__ import annotations

import json

import pytest

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.run import DrillOptions, run_drill

pytestmark = pytest.mark.integration

SMALL = {"items": 300, "backup_days": 3, "rounds": 2, "writes_per_round": 20, "good_writes_after_incident": 5}


def test_small_drill_recovers_the_pre_incident_table(tmp_path, capsys):
    report_file = tmp_path / "report.json"
    report = run_drill(DrillOptions(**SMALL, report_file=report_file))
    out = capsys.readouterr().out
    assert report.passed, out
    incident = report.stages["incident"]
    assert incident["items_verified"] == incident["items_expected"] > 0
    assert incident["corrupted"] > 0 and incident["deleted"] > 0
    assert incident["live_table"].startswith("customers-dr-")
    assert report.objectives["rpo_met"] and report.objectives["rto_met"]
    saved = json.loads(report_file.read_text())
    assert saved["checks"] == report.checks
    assert "DRILL PASS" in out and "Recovery report" in out


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
