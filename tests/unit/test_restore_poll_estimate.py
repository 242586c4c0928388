"""Slow restores (issue 19) without the state machine: the growing poll interval, the RTO alert
point, the plan's estimate, and resume requests."""

from __future__ import annotations

import pytest

from dynamodb_dr.core.errors import RestoreRequestInvalid
from dynamodb_dr.restore.durations import Rehearsed, estimate_durations, rto_alert_seconds
from dynamodb_dr.restore.estimate import ValidationEstimate
from dynamodb_dr.restore.models import PollPlan
from dynamodb_dr.restore.plan import parse_request, poll_plan

# Events one poll adds to the execution history: the Lambda task (entered, scheduled, started,
# succeeded, exited), the Choice (entered, exited) and the Wait (entered, exited).
EVENTS_PER_POLL = 9
HISTORY_LIMIT = 25_000
OTHER_EVENTS = 400  # every other state of a restore of 25 tables, generously


def polls_until(poll: PollPlan) -> tuple[int, list[int]]:
    elapsed, waits = 0.0, []
    while elapsed < poll.limit_seconds:
        wait = poll.next_wait(elapsed)
        waits.append(wait)
        elapsed += wait
    return len(waits) + 1, waits


@pytest.mark.parametrize("hours", [1, 6, 24, 72, 168])
def test_the_history_stays_far_below_its_limit_at_every_hard_limit(hours: int) -> None:
    checks, waits = polls_until(PollPlan(limit_seconds=hours * 3600))
    assert checks * EVENTS_PER_POLL + OTHER_EVENTS < HISTORY_LIMIT / 2, (hours, checks)
    # the interval grows from 30 s to at most 10 minutes, and the last wait ends at the limit
    assert waits[0] == 30 and max(waits) <= 600
    assert waits[:-1] == sorted(waits[:-1])
    assert sum(waits) == hours * 3600


def test_a_fixed_30_second_poll_would_have_overflowed_the_history() -> None:
    fixed = PollPlan(limit_seconds=168 * 3600, max_interval_seconds=30)
    checks, _ = polls_until(fixed)
    assert checks * EVENTS_PER_POLL > HISTORY_LIMIT


def no_history(logical: str) -> None:
    return None


def _validation(seconds: int, *logicals: str) -> ValidationEstimate:
    from dynamodb_dr.restore.estimate import TableEstimate as Scan

    tables = tuple(
        Scan(logical=n, size_bytes=0, item_count=0, segments=1, read_bytes_per_second=1, seconds=seconds)
        for n in logicals
    )
    return ValidationEstimate(tables=tables, seconds=seconds)


def test_size_estimate_without_rehearsals_and_the_rto_verdict() -> None:
    small = estimate_durations(
        [("customers", 10 * 1024**2)],
        validation=_validation(20, "customers"),
        rto_minutes=60,
        rehearsed=lambda _: None,
    )
    assert small.restore_seconds == 20 * 60 + 1  # 20 minutes + a minute per GB
    assert small.validation_seconds == 20
    assert small.fits_rto and small.tables[0].basis.startswith("size")
    big = estimate_durations(
        [("orders", 200 * 1024**3)],
        validation=_validation(4000, "orders"),
        rto_minutes=60,
        rehearsed=lambda _: None,
    )
    assert big.restore_seconds == 20 * 60 + 200 * 60
    assert not big.fits_rto
    assert rto_alert_seconds(big) == 0, "a plan whose validation alone outlasts the RTO alerts at once"


def test_a_rehearsal_replaces_the_size_assumption_and_the_slowest_table_counts() -> None:
    known = {"orders": Rehearsed(5400.0, "20261101T040000Z")}
    result = estimate_durations(
        [("customers", 1024), ("orders", 1024)],
        validation=_validation(30, "customers", "orders"),
        rto_minutes=60,
        rehearsed=known.get,
    )
    assert result.restore_seconds == 5400 and not result.fits_rto
    assert result.tables[1].basis.startswith("rehearsal 20261101T040000Z")


def test_the_hard_limit_comes_from_the_request_or_the_stack() -> None:
    plan_estimate = estimate_durations(
        [("t", 0)], validation=_validation(60, "t"), rto_minutes=60, rehearsed=lambda _: None
    )
    assert poll_plan(plan_estimate, None, 24).limit_seconds == 24 * 3600
    assert poll_plan(plan_estimate, 90, 24).limit_seconds == 90 * 60
    # the RTO minus the validation estimate minus the finishing steps
    assert poll_plan(plan_estimate, None, 24).rto_alert_seconds == 3600 - 60 - 300


@pytest.mark.parametrize(
    "raw",
    [
        {"resume": {"execution": "x"}, "tables": [{"logical": "customers"}]},
        {"resume": {"execution": "x"}, "use_latest": True},
        {"resume": {"execution": "bad name!"}},
        {"resume": {"execution": "x"}, "rollback": {"execution": "y"}},
    ],
)
def test_bad_resume_requests_are_refused(raw: object) -> None:
    with pytest.raises(RestoreRequestInvalid):
        parse_request(raw)


def test_a_resume_request_is_simple_json() -> None:
    request = parse_request({"resume": {"execution": "restore-20261126T100000Z"}, "cutover": "automatic"})
    assert request.resume and request.resume.execution == "restore-20261126T100000Z"
    assert request.model_fields_set == {"resume", "cutover"}
