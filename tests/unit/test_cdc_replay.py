"""Replay planning (last writer wins), item state at a time, the live-table guard, batch retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamodb_dr.cdc.model import Change
from dynamodb_dr.cdc.replay import BatchWriter, final_ops, guard_target, state_at
from dynamodb_dr.core.errors import ReplayIncomplete, ReplayRefused

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def change(
    seq: int, name: str, key: str = "a", v: int | None = None, label: str = "2026-11-26T00:00:00.000"
) -> Change:
    image = {"id": {"S": key}, "v": {"N": str(v if v is not None else seq)}}
    return Change(
        table="t",
        source_table="t",
        stream_label=label,
        event_id=f"e{seq}",
        event_name=name,  # type: ignore[arg-type]
        sequence_number=str(seq),
        approximate_creation=T0 + timedelta(minutes=seq),
        keys={"id": {"S": key}},
        new_image=None if name == "REMOVE" else image,
        old_image=None if name == "INSERT" else {"id": {"S": key}, "v": {"N": str(seq - 1)}},
    )


def test_last_writer_wins_per_key_in_sequence_order() -> None:
    ops = {
        op.keys["id"]["S"]: op
        for op in final_ops(
            [change(3, "MODIFY"), change(1, "INSERT"), change(2, "INSERT", "b"), change(5, "REMOVE", "b")]
        )
    }
    assert ops["a"].item == {"id": {"S": "a"}, "v": {"N": "3"}}
    assert ops["b"].item is None
    assert ops["b"].request() == {"DeleteRequest": {"Key": {"id": {"S": "b"}}}}


def test_across_tables_the_change_made_last_wins_whatever_the_stream_labels() -> None:
    # After a cutover the restored table (newer label) takes writes; after a rollback the
    # original table (older label) takes them again: time decides, not the label.
    restored = change(5, "MODIFY", v=1, label="2026-11-27T00:00:00.000")  # at T0 + 5 min
    original_again = change(900, "MODIFY", v=2, label="2026-11-26T00:00:00.000")  # at T0 + 900 min
    assert final_ops([original_again, restored])[0].item == {"id": {"S": "a"}, "v": {"N": "2"}}
    earlier_original = change(1, "MODIFY", v=3, label="2026-11-26T00:00:00.000")  # at T0 + 1 min
    assert final_ops([restored, earlier_original])[0].item == {"id": {"S": "a"}, "v": {"N": "1"}}


def test_state_at_a_time() -> None:
    history = [change(1, "INSERT"), change(3, "MODIFY"), change(5, "REMOVE")]
    assert state_at(history, T0 + timedelta(minutes=2)).item == {"id": {"S": "a"}, "v": {"N": "1"}}
    assert not state_at(history, T0 + timedelta(minutes=6)).exists
    assert not state_at(history, T0).exists  # before the INSERT
    modified_only = [change(4, "MODIFY")]
    before = state_at(modified_only, T0)  # earlier than any archived change: its OldImage
    assert before.exists and before.item == {"id": {"S": "a"}, "v": {"N": "3"}}


def test_guard_refuses_live_tables_unless_forced() -> None:
    live = {"customers-dr-1": "customers"}
    with pytest.raises(ReplayRefused):
        guard_target("customers-dr-1", live, force=False)
    guard_target("customers-dr-1", live, force=True)
    guard_target("customers", live, force=False)  # the old table is no longer live


class FlakyClient:
    def __init__(self, unprocessed_rounds: int, keep: int = 1) -> None:
        self.rounds = unprocessed_rounds
        self.keep = keep  # requests accepted per throttled round
        self.calls: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if self.rounds > 0:
            self.rounds -= 1
            return {"UnprocessedItems": {table: requests[self.keep :]}}
        return {"UnprocessedItems": {}}


def test_unprocessed_items_are_retried_with_backoff() -> None:
    client, sleeps = FlakyClient(2), []
    writer = BatchWriter(client, "t", sleep=sleeps.append)
    writer.write([{"PutRequest": {"Item": {"id": {"S": str(i)}}}} for i in range(5)])
    assert client.calls == [5, 4, 3] and writer.retries == 2
    assert len(sleeps) == 2 and sleeps[1] > 0


def test_unprocessed_items_that_never_go_through_raise() -> None:
    writer = BatchWriter(FlakyClient(100, keep=0), "t", max_attempts=3, sleep=lambda s: None)
    with pytest.raises(ReplayIncomplete):
        writer.write(
            [{"PutRequest": {"Item": {"id": {"S": "x"}}}}, {"PutRequest": {"Item": {"id": {"S": "y"}}}}]
        )
