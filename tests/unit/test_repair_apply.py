"""The repair writer: guard conditions, the adaptive write budget, and outcomes under retries."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from dynamodb_dr.core.errors import AccessDenied, RepairApplyFailed
from dynamodb_dr.repair import images
from dynamodb_dr.repair.apply import RepairWriter, WriteBudget
from dynamodb_dr.repair.conditions import EXPRESSION_BUDGET, guard_condition
from dynamodb_dr.repair.models import PlanEntry
from dynamodb_dr.repair.table import write_capacity


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_the_budget_keeps_the_rate_under_its_ceiling() -> None:
    clock = Clock()
    budget = WriteBudget(100.0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        budget.take(1)
    assert budget.units == 1000
    assert 9.0 <= clock.now <= 10.5  # 1,000 units at 100/s: ten seconds (less the first burst)


def test_a_throttle_halves_the_rate_and_success_creeps_back() -> None:
    clock = Clock()
    budget = WriteBudget(100.0, clock=clock, sleep=clock.sleep)
    budget.throttled()
    budget.throttled()
    assert budget.rate == 25.0 and budget.throttles == 2
    for _ in range(100):
        budget.throttled()
    assert budget.rate == pytest.approx(100 / 64)  # never below the floor
    for _ in range(200):
        budget.succeeded()
    assert budget.rate == 100.0


def test_a_large_item_waits_for_a_full_bucket_and_goes_into_debt() -> None:
    clock = Clock()
    budget = WriteBudget(10.0, clock=clock, sleep=clock.sleep)
    budget.take(400)  # a 400 KB item on a table allowed 10 units a second
    budget.take(1)
    assert clock.now >= 39.0  # the debt is paid before anything else is written


def test_the_guard_condition_compares_every_attribute_and_known_absent_names() -> None:
    guard = {"id": {"S": "a"}, "email": {"S": "x"}, "tags": {"SS": ["b", "a"]}}
    condition = guard_condition(guard, ("id",), absent=("deploy_version", "email"))
    assert condition.expression == (
        "attribute_exists(#k0) AND #a0 = :v0 AND #a1 = :v1 AND attribute_not_exists(#x0)"
    )
    assert condition.names == {"#k0": "id", "#a0": "email", "#a1": "tags", "#x0": "deploy_version"}
    assert condition.values == {":v0": {"S": "x"}, ":v1": {"SS": ["b", "a"]}}
    absent = guard_condition(None, ("id", "sk"))
    assert absent.request() == {
        "ConditionExpression": "attribute_not_exists(#k0)",
        "ExpressionAttributeNames": {"#k0": "id"},
    }


def test_a_wide_item_stays_within_the_expression_limit() -> None:
    guard = {"id": {"S": "a"}, **{f"attribute_{n}": {"N": str(n)} for n in range(600)}}
    condition = guard_condition(guard, ("id",))
    assert len(condition.expression) <= EXPRESSION_BUDGET and not condition.covered


def test_capacity_is_the_smallest_of_the_table_and_its_indexes() -> None:
    provisioned = {
        "BillingModeSummary": {"BillingMode": "PROVISIONED"},
        "ProvisionedThroughput": {"WriteCapacityUnits": 500},
        "GlobalSecondaryIndexes": [
            {"IndexName": "by-email", "ProvisionedThroughput": {"WriteCapacityUnits": 50}}
        ],
    }
    assert write_capacity(provisioned) == (50.0, "provisioned index by-email")
    on_demand = {
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "OnDemandThroughput": {"MaxWriteRequestUnits": 1000},
        "WarmThroughput": {"WriteUnitsPerSecond": 8000},
    }
    assert write_capacity(on_demand) == (1000.0, "on-demand maximum of the table")
    assert write_capacity({"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}})[0] == 4000.0


class FakeTable:
    """A DynamoDB client over one dict: honours the guard the way DynamoDB does (attributes)."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.script: list[str] = []  # per call: "ok", "throttle", "lost", "500", "denied"
        self.calls = 0

    def _fault(self) -> str:
        self.calls += 1
        return self.script.pop(0) if self.script else "ok"

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._write(request["Item"]["id"]["S"], request["Item"], request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self._write(request["Key"]["id"]["S"], None, request)

    def _write(self, key: str, item: dict[str, Any] | None, request: dict[str, Any]) -> dict[str, Any]:
        fault = self._fault()
        if fault == "throttle":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
        if fault == "denied":
            raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "PutItem")
        current = self.items.get(key)
        if not self._holds(current, request):
            raise ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException"}, "Item": current},  # type: ignore[typeddict-unknown-key]
                "PutItem",
            )
        if item is None:
            self.items.pop(key, None)
        else:
            self.items[key] = item
        if fault == "lost":
            raise ReadTimeoutError(endpoint_url="https://dynamodb")
        if fault == "500":
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
        return {}

    @staticmethod
    def _holds(current: dict[str, Any] | None, request: dict[str, Any]) -> bool:
        names, values = request["ExpressionAttributeNames"], request.get("ExpressionAttributeValues", {})
        if request["ConditionExpression"] == "attribute_not_exists(#k0)":
            return current is None
        if current is None:
            return False
        for clause in request["ConditionExpression"].split(" AND ")[1:]:
            if clause.startswith("attribute_not_exists("):
                if names[clause[21:-1]] in current:
                    return False
                continue
            name, value = clause.split(" = ")
            if not images.same_item({"v": current.get(names[name], {"NULL": True})}, {"v": values[value]}):
                return False
        return True


def _entry(key: str, target: dict[str, Any] | None, guard: dict[str, Any] | None) -> PlanEntry:
    return PlanEntry(k={"id": {"S": key}}, t=target, g=guard, x=("deploy",))


GOOD = {"id": {"S": "a"}, "v": {"S": "good"}}
BAD = {"id": {"S": "a"}, "v": {"S": "bad"}, "deploy": {"S": "v42"}}


def _writer(table: FakeTable) -> tuple[RepairWriter, Clock]:
    clock = Clock()
    budget = WriteBudget(1000.0, clock=clock, sleep=clock.sleep)
    return RepairWriter(table, "t", ("id",), budget, sleep=clock.sleep), clock  # type: ignore[arg-type]


def test_a_write_puts_the_target_only_while_the_item_is_the_guard() -> None:
    table = FakeTable({"a": BAD})
    writer, _ = _writer(table)
    assert writer.write(_entry("a", GOOD, BAD)) == "written"
    assert table.items["a"] == GOOD
    assert writer.stats.first_write is not None and writer.stats.first_write <= writer.stats.last_write  # type: ignore[operator]


def test_an_item_changed_since_the_plan_is_never_overwritten() -> None:
    changed = {**BAD, "v": {"S": "fixed by support"}}
    table = FakeTable({"a": changed})
    writer, _ = _writer(table)
    assert writer.write(_entry("a", GOOD, BAD)) == "changed"
    assert table.items["a"] == changed
    added = {**BAD, "deploy": {"S": "v42"}, "note": {"S": "added"}}
    table.items["a"] = added  # only an attribute added: the full guard still differs
    assert writer.write(_entry("a", GOOD, {k: v for k, v in BAD.items() if k != "deploy"})) == "changed"
    assert table.items["a"] == added


def test_a_lost_response_is_written_once_and_counted_as_written() -> None:
    table = FakeTable({"a": BAD})
    table.script = ["lost"]
    writer, _ = _writer(table)
    assert writer.write(_entry("a", GOOD, BAD)) == "written"
    assert table.calls == 2 and table.items["a"] == GOOD and writer.stats.retries == 1
    assert writer.stats.first_write is not None
    table = FakeTable({"a": BAD})
    table.script = ["500"]
    writer, _ = _writer(table)
    assert writer.write(_entry("a", None, BAD)) == "written" and "a" not in table.items


def test_an_item_already_at_its_target_is_not_written_again() -> None:
    table = FakeTable({"a": GOOD})
    writer, _ = _writer(table)
    assert writer.write(_entry("a", GOOD, BAD)) == "already"
    assert writer.write(_entry("a", GOOD, BAD), maybe_done=True) == "written"  # an earlier invocation's


def test_throttling_slows_the_writer_down_and_then_gives_up_with_a_named_error() -> None:
    table = FakeTable({"a": BAD})
    table.script = ["throttle"] * 3
    writer, clock = _writer(table)
    assert writer.write(_entry("a", GOOD, BAD)) == "written"
    assert writer.budget.throttles == 3 and writer.budget.rate < 1000.0 and clock.slept > 0
    table = FakeTable({"a": BAD})
    table.script = ["throttle"] * 50
    writer, _ = _writer(table)
    with pytest.raises(RepairApplyFailed, match="can resume"):
        writer.write(_entry("a", GOOD, BAD))
    assert table.items["a"] == BAD


def test_a_non_transient_error_is_raised_at_once() -> None:
    table = FakeTable({"a": BAD})
    table.script = ["denied"]
    writer, _ = _writer(table)
    with pytest.raises(AccessDenied):
        writer.write(_entry("a", GOOD, BAD))
    assert table.calls == 1
