from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dynamodb_dr.backup.create import backup_name
from dynamodb_dr.core.events import ScheduleTick


def test_scheduler_input_parses_and_names_a_sortable_tick():
    tick = ScheduleTick.model_validate(
        {
            "task": "backup",
            "scheduled_time": "2026-11-26T03:00:00.123+01:00",
            "attempt": "2",
            "execution_id": "x",
        }
    )
    assert tick.scheduled_time == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert tick.attempt == 2
    assert tick.tick_id == "20261126T020000Z"
    assert backup_name("customers", tick, "0a1b2c3d") == "ddbdr-customers-20261126T020000Z-0a1b2c3d"


def test_names_sort_in_time_order():
    ticks = [
        ScheduleTick(scheduled_time=datetime(2026, m, d, tzinfo=UTC)) for m, d in ((1, 2), (10, 1), (2, 1))
    ]
    # Whatever the nonce, the tick orders the names.
    names = sorted(
        backup_name("t1x", t, nonce) for t, nonce in zip(ticks, ("0000", "ffff", "8888"), strict=True)
    )
    in_time = sorted(ticks, key=lambda t: t.scheduled_time)
    assert [n.rsplit("-", 1)[0] for n in names] == [backup_name("t1x", t, "").rstrip("-") for t in in_time]


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"scheduled_time": "yesterday"},
        {"scheduled_time": "2026-11-26T03:00:00"},  # naive: ambiguous
        {"scheduled_time": "2026-11-26T03:00:00Z", "attempt": 0},
        {"scheduled_time": "2026-11-26T03:00:00Z", "tables": ["bad name!"]},
        {"scheduled_time": "2026-11-26T03:00:00Z", "tables": []},
    ],
)
def test_bad_ticks_are_rejected(event):
    with pytest.raises(ValidationError):
        ScheduleTick.model_validate(event)
