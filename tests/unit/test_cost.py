"""The cost model (docs/cost.md, `dynamodb-dr cost`): defaults that do not duplicate PITR, figures
for 10 GB, 1 TB and 5 TB checked by hand, schedules read the way EventBridge Scheduler runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.cost import (
    DAYS,
    CostInputError,
    Prices,
    Usage,
    examples,
    monthly,
    runs_per_month,
    template_defaults,
    usage_from_parameters,
)

P = Prices()


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(1 hour)", 720),
        ("rate(5 minutes)", 8640),
        ("rate(15 minutes)", 2880),
        ("rate(1 day)", 30),
        ("cron(0 3 * * ? *)", 30),
        ("cron(0 3 ? * SUN *)", 30 / 7),
        ("cron(0 9 ? * MON-FRI *)", 30 * 5 / 7),
        ("cron(0 4 1 * ? *)", 1),
        ("cron(0 4 1,15 * ? *)", 2),
        ("cron(0 */6 * * ? *)", 120),
        ("cron(0,30 * * * ? *)", 30 * 24 * 2),
        ("cron(0 2 ? * SUN#1 *)", 1),
    ],
)
def test_schedules_run_as_often_as_scheduler_runs_them(expression: str, runs: float) -> None:
    assert runs_per_month(expression) == pytest.approx(runs)


@pytest.mark.parametrize("expression", ["daily", "rate(1 fortnight)", "cron(0 3 * *)", "cron(x 3 * * ? *)"])
def test_an_unreadable_schedule_is_a_named_error(expression: str) -> None:
    with pytest.raises(CostInputError):
        runs_per_month(expression)


def test_the_default_configuration_keeps_backups_beyond_pitr_without_duplicating_it() -> None:
    defaults = template_defaults()
    usage = usage_from_parameters(defaults, table_gb=1, writes_per_second=1)
    assert usage.backups_per_month == pytest.approx(DAYS / 7)  # weekly, not daily
    assert usage.full_exports_per_month == pytest.approx(DAYS / 7)
    assert usage.monthly_backup_retention_days > int(defaults["PitrRecoveryPeriodDays"])  # beyond PITR
    # finite retention everywhere
    assert 0 < usage.archive_days <= 365 and 0 < usage.export_retention_days <= 365
    assert usage.backups_kept < 12  # 35 daily backups before
    assert usage.transition_days and usage.transition_days < usage.archive_days


def _by_hand(gb: float, writes: float) -> dict[str, float]:
    """The documented formula, written out again for the default configuration."""
    weekly = 30 / 7
    backups = max(3, weekly * 35 / 30) + (180 - 35) / 30
    changed = min(gb, writes * 3600 * 1024 / 1024**3)
    written_exports = 0.3 * (weekly * gb + 720 * changed)
    written_cdc = writes * 2_592_000 * 600 / 1024**3

    def life(days: float) -> float:  # Standard 30 days, then Glacier IR (at least 90 days)
        return 30 / 30 * 0.023 + max(days - 30, 90) / 30 * 0.004

    return {
        "PITR": gb * 0.20,
        "on-demand backups": gb * backups * 0.10,
        "FULL exports": gb * weekly * 0.10,
        "INCREMENTAL exports": 720 * max(changed, 0.01) * 0.10,
        "S3 storage": written_exports * life(90 + 7 + 30) + written_cdc * life(90 + 30),
    }


@pytest.mark.parametrize(("gb", "writes"), [(10, 10), (1000, 200), (5000, 1000)])
def test_10_gb_1_tb_and_5_tb_tables_cost_what_the_formula_says(gb: float, writes: float) -> None:
    usage = next(u for u in examples() if u.table_gb == gb)
    assert usage.writes_per_second == writes
    costs = monthly(usage)
    for component, expected in _by_hand(gb, writes).items():
        assert costs[component] == pytest.approx(expected, rel=1e-9), component
    old = Usage(  # the defaults before: daily backups kept 35 days, daily FULL exports, kept forever
        table_gb=gb,
        writes_per_second=writes,
        backups_per_month=30,
        monthly_backup_retention_days=0,
        full_exports_per_month=30,
        archive_days=0,
        transition_days=90,
    )
    assert sum(costs.values()) < 0.5 * sum(monthly(old).values())


def test_a_replica_bucket_doubles_storage_and_adds_transfer() -> None:
    params = {**template_defaults(), "ArchiveReplicaBucketArn": "arn:aws:s3:::vault"}
    single = monthly(usage_from_parameters(template_defaults(), table_gb=100, writes_per_second=50))
    double = monthly(usage_from_parameters(params, table_gb=100, writes_per_second=50))
    assert double["S3 storage"] == pytest.approx(2 * single["S3 storage"])
    assert double["replication transfer"] > 0 and "replication transfer" not in single


def test_cost_command_prints_the_estimate_formula_and_prices(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cost", "--size-gb", "1000", "--writes-per-second", "200", "--no-samconfig"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = monthly(usage_from_parameters(template_defaults(), table_gb=1000, writes_per_second=200))
    assert result["total_usd"] == pytest.approx(sum(expected.values()), abs=0.01)
    assert set(result["formula"]) == set(expected) == set(result["monthly_usd"])
    assert result["prices_usd"]["backup_gb_month"] == P.backup_gb_month
    assert main(args) == 0
    human = capsys.readouterr().out
    assert "FORMULA" in human and "prices assumed" in human and "on-demand backups" in human


def test_cost_command_reads_samconfig_and_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.deploy.parameters]\nstack_name = "x"\n'
        'parameter_overrides = ["ProtectedTables=a", "MonthlyBackupRetentionDays=0", '
        '"BackupSchedule=\\"cron(0 3 * * ? *)\\""]\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["cost", "--size-gb", "100", "--writes-per-second", "1", "--json"]) == 0
    usage = json.loads(capsys.readouterr().out)["usage"]
    assert usage["monthly_backup_retention_days"] == 0 and usage["backups_per_month"] == 30
    assert (
        main(
            [
                "cost",
                "--size-gb",
                "1",
                "--writes-per-second",
                "1",
                "--parameter",
                "BackupRetentionDays=7",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["usage"]["backup_retention_days"] == 7
    assert main(["cost", "--size-gb", "1", "--writes-per-second", "1", "--parameter", "Nope=1"]) == 2
    assert (
        main(["cost", "--size-gb", "1", "--writes-per-second", "1", "--parameter", "BackupSchedule=weekly"])
        == 2
    )
    assert main(["cost", "--size-gb", "-1", "--writes-per-second", "1"]) == 2
