"""The local scheduler fires schedules as EventBridge Scheduler does: rate, cron (in a timezone), at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dynamodb_dr_local.emulator.scheduler import (
    Cron,
    Planned,
    ScheduleRunner,
    UnsupportedExpression,
    next_fire,
)
from dynamodb_dr_local.schedules import find, render_input, schedules_in

START = datetime(2026, 11, 26, 9, 59, 30, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("rate(5 minutes)", None, START, START + timedelta(minutes=5)),
        ("rate(1 hour)", None, START + timedelta(minutes=61), START + timedelta(hours=2)),
        ("rate(1 day)", None, START, START + timedelta(days=1)),
        ("cron(0 3 * * ? *)", "UTC", START, datetime(2026, 11, 27, 3, 0, tzinfo=UTC)),
        ("cron(0 */6 * * ? *)", "UTC", START, datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
        # 03:00 in Berlin (UTC+1 in November) is 02:00 UTC
        ("cron(0 3 * * ? *)", "Europe/Berlin", START, datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
        ("cron(0 4 1 * ? *)", "UTC", START, datetime(2026, 12, 1, 4, 0, tzinfo=UTC)),
        ("cron(15 10 ? * MON-FRI *)", "UTC", START, datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("cron(0 12 ? * SAT,SUN *)", "UTC", START, datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
        ("cron(0 8 ? * 1 *)", "UTC", START, datetime(2026, 11, 29, 8, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(30 1 1 JAN ? 2027)", "UTC", START, datetime(2027, 1, 1, 1, 30, tzinfo=UTC)),
        ("at(2026-11-26T11:00:00)", "UTC", START, datetime(2026, 11, 26, 11, 0, tzinfo=UTC)),
        ("at(2026-11-26T09:00:00)", "UTC", START, None),  # already past: never again
    ],
)
def test_next_fire(expression: str, timezone: str | None, after: datetime, expected: datetime | None) -> None:
    assert next_fire(expression, timezone, after, START) == expected


@pytest.mark.parametrize(
    "expression",
    ["cron(0 3 L * ? *)", "cron(0 3 ? * 6#3 *)", "cron(0 3 15W * ? *)", "cron(0 3 * *)", "daily"],
)
def test_what_the_local_scheduler_cannot_evaluate_is_named(expression: str) -> None:
    with pytest.raises(UnsupportedExpression):
        next_fire(expression, "UTC", START, START)


def test_cron_matches_the_minute_it_names() -> None:
    cron = Cron.parse("0 3 * * ? *")
    assert cron.matches(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    assert not cron.matches(datetime(2026, 11, 26, 3, 1, tzinfo=UTC))


def test_the_runner_fires_what_is_due_and_keeps_going_after_a_failure() -> None:
    fired: list[tuple[str, datetime]] = []
    logged: list[str] = []

    def record(name: str):  # type: ignore[no-untyped-def]
        def fire(when: datetime) -> None:
            if name == "broken":
                raise RuntimeError("boom")
            fired.append((name, when))

        return fire

    runner = ScheduleRunner(
        [
            Planned("posture", "rate(5 minutes)", None, record("posture")),
            Planned("broken", "rate(5 minutes)", None, record("broken")),
            Planned("backup", "cron(0 3 * * ? *)", "UTC", record("backup")),
            Planned("odd", "cron(0 3 L * ? *)", "UTC", record("odd")),
        ],
        log=logged.append,
    )
    (posture_due,) = [due for name, due in runner.upcoming() if name == "posture"]
    assert runner.run_due(posture_due - timedelta(seconds=1)) == []
    assert runner.run_due(posture_due + timedelta(seconds=1)) == ["posture"]
    assert fired == [("posture", posture_due)]
    assert any("broken failed: RuntimeError: boom" in line for line in logged)
    assert any("odd (cron(0 3 L * ? *)) is not fired locally" in line for line in logged)
    assert "`dynamodb-dr tick odd`" in logged[0]


TEMPLATE = {
    "Resources": {
        "BackupFunctionTick": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "ScheduleExpression": {"Ref": "BackupSchedule"},
                "Target": {
                    "Arn": {"Fn::GetAtt": ["BackupFunction", "Arn"]},
                    "Input": '{"task": "backup", "scheduled_time": "<aws.scheduler.scheduled-time>", '
                    '"attempt": "<aws.scheduler.attempt-number>"}',
                },
            },
        },
        "ExportFunctionFullTick": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "ScheduleExpression": "cron(0 1 * * ? *)",
                "Target": {
                    "Arn": {"Fn::GetAtt": ["ExportFunction", "Arn"]},
                    "Input": '{"task": "export-full"}',
                },
            },
        },
        "ExportFunctionIncrementalTick": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "ScheduleExpression": "rate(1 hour)",
                "Target": {
                    "Arn": {"Fn::GetAtt": ["ExportFunction", "Arn"]},
                    "Input": '{"task": "export-incremental"}',
                },
            },
        },
    }
}


def test_schedules_are_found_by_task_function_or_id_and_ambiguity_is_visible() -> None:
    found = schedules_in(TEMPLATE)
    assert [s.name for s in find(found, "backup")] == ["backup"]
    assert [s.name for s in find(found, "BackupFunctionTick")] == ["backup"]
    assert [s.name for s in find(found, "export")] == ["export-full", "export-incremental"]
    assert find(found, "nothing") == []
    (backup,) = find(found, "backup")
    assert backup.resolve(backup.expression, {"BackupSchedule": "cron(0 */6 * * ? *)"}, {}) == (
        "cron(0 */6 * * ? *)"
    )


def test_the_payload_is_what_scheduler_sends() -> None:
    (backup,) = find(schedules_in(TEMPLATE), "backup")
    payload = render_input(backup.input, datetime(2026, 11, 26, 4, 0, 7, tzinfo=UTC))
    assert payload == '{"task": "backup", "scheduled_time": "2026-11-26T04:00:07Z", "attempt": "1"}'
