"""Chain-aware expiry: an export a restore point within retention needs is never tagged to expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from dynamodb_dr.core.errors import ExportChainError
from dynamodb_dr.exports.api import ChainIndex
from dynamodb_dr.exports.chain import ExportChainStore, ExportRecord
from dynamodb_dr.exports.expiry import EXPIRY_TAG, ExportTagger, expirable, mark_expired
from dynamodb_dr.exports.reader import RebuildPlan, plan_rebuild

T = datetime(2026, 1, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def record(
    kind: str, to: float, frm: float | None = None, status: str = "COMPLETED", table: str = "customers"
) -> ExportRecord:
    return ExportRecord(
        logical_name="customers",
        export_type=kind,  # type: ignore[arg-type]
        tick=f"t{to}",
        physical_table=table,
        window_from=h(frm) if frm is not None else None,
        window_to=h(to),
        status=status,  # type: ignore[arg-type]
        client_token="x",
        s3_bucket="archive",
        s3_prefix=f"exports/customers/{kind.lower()}/{to}-{status}",
        started_at=h(to),
    )


def _plan(records: list[ExportRecord], at: datetime) -> RebuildPlan | str:
    try:
        return plan_rebuild(records, at)
    except ExportChainError as exc:
        return f"refused: {exc}"


def _summary(plan: RebuildPlan | str) -> Any:
    if isinstance(plan, str):
        return "refused"
    return (plan.full.sk, [r.sk for r in plan.incrementals], plan.reached)


@st.composite
def chains(draw: st.DrawFn) -> tuple[list[ExportRecord], float]:
    """A chain over ~60 days: FULL exports every few days (some failed), contiguous incremental
    windows of 1-24 h (some failed and exported again), and a horizon somewhere in it."""
    records: list[ExportRecord] = [record("FULL", 0)]
    days = draw(st.integers(20, 60))
    for day in range(1, days):
        if draw(st.integers(0, 6)) == 0:
            records.append(record("FULL", day * 24, status=draw(st.sampled_from(["COMPLETED", "FAILED"]))))
    cursor = 0.0
    while cursor < days * 24:
        step = draw(st.integers(1, 24))
        if draw(st.integers(0, 9)) == 0:
            records.append(record("INCREMENTAL", cursor + step, cursor, status="FAILED"))
        records.append(record("INCREMENTAL", cursor + step, cursor))
        cursor += step
    horizon = draw(st.floats(0, days * 24))
    return records, horizon


@settings(max_examples=60, deadline=None)
@given(chains())
def test_every_restore_point_after_the_horizon_plans_the_same_without_the_expired_exports(
    drawn: tuple[list[ExportRecord], float],
) -> None:
    records, horizon = drawn
    gone = {r.sk for r in expirable(records, h(horizon))}
    kept = [r for r in records if r.sk not in gone]
    end = max(r.window_to for r in records)
    moments = [h(horizon)] + [
        h(horizon + x) for x in range(0, int((end - h(horizon)).total_seconds() // 3600) + 2, 7)
    ]
    for at in moments:
        assert _summary(_plan(kept, at)) == _summary(_plan(records, at)), at


def test_old_exports_expire_and_the_full_export_the_horizon_needs_stays() -> None:
    records = [
        record("FULL", 0),
        *[record("INCREMENTAL", i + 1, i) for i in range(24 * 20)],
        record("FULL", 24 * 7),
        record("FULL", 24 * 14, status="FAILED"),
        record("FULL", 24 * 15),
    ]
    gone = expirable(records, h(24 * 14.5))  # horizon between the failed FULL and the next one
    gone_sks = {r.sk for r in gone}
    assert records[0].sk in gone_sks  # the first FULL: a newer one serves every later point
    assert record("FULL", 24 * 7).sk not in gone_sks  # the FULL the horizon starts from stays
    assert record("FULL", 24 * 14, status="FAILED").sk not in gone_sks  # newer than that FULL
    # every incremental that ends after the FULL of day 7 stays, every one before it goes
    incrementals = [r for r in gone if r.export_type == "INCREMENTAL"]
    assert len(incrementals) == 24 * 7
    assert max(r.window_to for r in incrementals) == h(24 * 7)


def test_nothing_expires_while_no_full_export_lies_before_the_horizon() -> None:
    records = [record("FULL", 100), *[record("INCREMENTAL", i + 1, i) for i in range(200)]]
    assert expirable(records, h(50)) == []
    # FULL exports failing for weeks: the last good one stays however old it is
    stale = [record("FULL", 0), *[record("FULL", d * 24, status="FAILED") for d in range(1, 60)]]
    stale += [record("INCREMENTAL", i + 1, i) for i in range(24 * 60)]
    assert not {r.sk for r in expirable(stale, h(24 * 59))} & {stale[0].sk}


def test_exports_still_running_never_expire() -> None:
    records = [record("FULL", 0, status="IN_PROGRESS"), record("FULL", 24), record("FULL", 48)]
    assert [r.sk for r in expirable(records, h(50))] == [record("FULL", 24).sk]


@mock_aws
def test_mark_expired_tags_every_object_and_chain_entry_once() -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    dynamodb.create_table(
        TableName="state",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket="archive")
    store = ExportChainStore(dynamodb, "state")
    index = ChainIndex(lambda: s3, "archive", "exports")
    old, base, newer = record("FULL", 0), record("FULL", 24 * 10), record("FULL", 24 * 40)
    for export in (old, base, newer):
        store.save(export)
        index.put("customers", export.sk, export.model_dump_json())
        for name in ("manifest-summary.json", "data/a.json.gz", "data/b.json.gz"):
            s3.put_object(Bucket="archive", Key=f"{export.s3_prefix}/AWSDynamoDB/x/{name}", Body=b"{}")
    # a neighbour whose prefix starts with the old export's: never touched
    s3.put_object(Bucket="archive", Key=f"{old.s3_prefix}0/AWSDynamoDB/y/data/c.json.gz", Body=b"{}")

    def tags(key: str) -> list[dict[str, str]]:
        return list(s3.get_object_tagging(Bucket="archive", Key=key)["TagSet"])

    result = mark_expired(
        "customers",
        now=h(24 * 45),
        retention_days=30,  # horizon: day 15, served by the FULL of day 10
        store=store,
        tagger=ExportTagger(lambda: s3, "archive"),
        index_key=index.key,
    )
    assert result.marked == [old.sk]
    assert result.objects == 4
    for name in ("manifest-summary.json", "data/a.json.gz", "data/b.json.gz"):
        assert tags(f"{old.s3_prefix}/AWSDynamoDB/x/{name}") == [EXPIRY_TAG]
        assert tags(f"{base.s3_prefix}/AWSDynamoDB/x/{name}") == []
        assert tags(f"{newer.s3_prefix}/AWSDynamoDB/x/{name}") == []
    assert tags(index.key("customers", old.sk)) == [EXPIRY_TAG]
    assert tags(index.key("customers", base.sk)) == []
    assert tags(f"{old.s3_prefix}0/AWSDynamoDB/y/data/c.json.gz") == []
    saved = store.get("customers", old.sk)
    assert saved is not None and saved.expiry_marked_at == h(24 * 45)
    again = mark_expired(
        "customers",
        now=h(24 * 45),
        retention_days=30,
        store=store,
        tagger=ExportTagger(lambda: s3, "archive"),
        index_key=index.key,
    )
    assert again.marked == []  # each export is tagged once
