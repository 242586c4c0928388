"""Restore domain logic without the state machine: request model, checksums, budgets, pointers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dynamodb_dr.core.errors import CutoverFailed, RestoreRequestInvalid
from dynamodb_dr.restore.checksum import SegmentProgress, checksum_of, combine, item_digest, scan_segment
from dynamodb_dr.restore.cutover import PointerChange, Pointers
from dynamodb_dr.restore.plan import parse_request, target_name
from dynamodb_dr.restore.tables import restore_overrides
from dynamodb_dr_local import PROJECT_ROOT


def test_request_defaults_are_safe() -> None:
    request = parse_request({"tables": [{"logical": "customers"}], "use_latest": True})
    assert request.cutover == "approval"
    assert request.catch_up is False
    assert request.on_failure == "keep"
    assert request.validation.segments is None  # sized from the table (restore/estimate.py)


@pytest.mark.parametrize(
    "raw",
    [
        {"tables": [{"logical": "customers"}]},
        {"tables": [{"logical": "customers"}], "use_latest": True, "restore_time": "2026-11-26T10:00:00Z"},
        {"tables": [], "use_latest": True},
        {"tables": [{"logical": "customers"}, {"logical": "customers"}], "use_latest": True},
        {"tables": [{"logical": "customers", "target": "orders-dr-1"}], "use_latest": True},
        {"tables": [{"logical": "customers"}], "restore_time": "2026-11-26T10:00:00"},  # naive time
        {"tables": [{"logical": "customers"}], "use_latest": True, "accept_setting_differences": ["colour"]},
        {
            "tables": [{"logical": "customers"}],
            "use_latest": True,
            "validation": {"expected": {"orders": {"item_count": 1}}},
        },
        {"tables": [{"logical": "customers"}], "use_latest": True, "validation": {"segments": 0}},
        {
            "tables": [{"logical": f"t{i:03}"} for i in range(3)],
            "use_latest": True,
            "validation": {"segments": 200},
        },
        {"rollback": {"execution": "x"}, "use_latest": True},
        {"rollback": {"execution": "bad name!"}},
        "not an object",
    ],
)
def test_invalid_requests_are_named_errors(raw: Any) -> None:
    with pytest.raises(RestoreRequestInvalid):
        parse_request(raw)


def test_restore_time_is_normalized_to_utc() -> None:
    request = parse_request(
        {"tables": [{"logical": "customers"}], "restore_time": "2026-11-26T12:00:00+02:00"}
    )
    assert request.restore_time == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_target_names_follow_the_restore_pattern() -> None:
    assert (
        target_name("customers", datetime(2026, 11, 26, 9, 5, 7, tzinfo=UTC), "run-1")
        == "customers-dr-20261126090507-" + __import__("hashlib").sha256(b"run-1").hexdigest()[:8]
    )


def test_checksum_is_order_independent_and_content_sensitive() -> None:
    items = [{"id": {"S": str(i)}, "n": {"N": str(i)}, "tags": {"SS": ["b", "a"]}} for i in range(50)]
    shuffled = random.Random(3).sample(items, len(items))
    assert checksum_of(items) == checksum_of(shuffled)
    assert checksum_of(items) == combine(checksum_of(items[:20]), checksum_of(items[20:]))
    changed = [*items[:-1], {**items[-1], "n": {"N": "999"}}]
    assert checksum_of(changed) != checksum_of(items)
    assert checksum_of(items[:-1]) != checksum_of(items)
    # sets compare as sets, binary is canonicalized
    assert item_digest({"s": {"SS": ["a", "b"]}}) == item_digest({"s": {"SS": ["b", "a"]}})
    assert item_digest({"b": {"B": b"\x00\x01"}}) != item_digest({"b": {"B": b"\x00\x02"}})
    assert len(checksum_of([])) == 32


class _PagedScan:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def scan(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        index = int(request.get("ExclusiveStartKey", {}).get("page", {"N": "0"})["N"])
        page: dict[str, Any] = {"Items": self.pages[index]}
        if index + 1 < len(self.pages):
            page["LastEvaluatedKey"] = {"page": {"N": str(index + 1)}}
        return page


def test_segment_scan_stops_when_time_runs_short_and_continues() -> None:
    pages = [[{"id": {"S": f"{p}-{i}"}} for i in range(3)] for p in range(4)]
    client = _PagedScan(pages)
    remaining = iter([60_000, 1_000, 60_000, 60_000, 60_000])
    first = scan_segment(client, "t", 1, 4, progress=SegmentProgress(), remaining_ms=lambda: next(remaining))
    assert (first.done, first.count, first.pages) == (False, 6, 2)
    final = scan_segment(client, "t", 1, 4, progress=first, remaining_ms=lambda: next(remaining))
    assert (final.done, final.count, final.pages, final.next_key) == (True, 12, 4, None)
    assert final.checksum == checksum_of([i for p in pages for i in p])
    assert all(c["Segment"] == 1 and c["TotalSegments"] == 4 for c in client.calls)


def test_restore_overrides_match_the_source() -> None:
    source = {
        "BillingModeSummary": {"BillingMode": "PROVISIONED"},
        "ProvisionedThroughput": {
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 7,
            "NumberOfDecreasesToday": 0,
        },
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "g",
                "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "IndexStatus": "ACTIVE",
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
            }
        ],
        "SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:key"},
    }
    overrides = restore_overrides(source)
    assert overrides["BillingModeOverride"] == "PROVISIONED"
    assert overrides["ProvisionedThroughputOverride"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}
    assert overrides["GlobalSecondaryIndexOverride"][0]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 2,
        "WriteCapacityUnits": 3,
    }
    assert overrides["SSESpecificationOverride"] == {
        "Enabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": "arn:key",
    }
    on_demand = restore_overrides({"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}})
    assert on_demand == {"BillingModeOverride": "PAY_PER_REQUEST"}


class _FlakySsm:
    def __init__(self, fail_on: str) -> None:
        self.values: dict[str, str] = {}
        self.fail_on = fail_on

    def put_parameter(self, Name: str, Value: str, **_: Any) -> None:
        if Name == self.fail_on and Value.endswith("-dr-1"):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PutParameter")
        self.values[Name] = Value

    def get_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        if Name not in self.values:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": "no"}}, "GetParameter")
        return {"Parameter": {"Value": self.values[Name]}}

    def delete_parameter(self, Name: str, **_: Any) -> None:
        self.values.pop(Name, None)


def test_a_failed_switch_puts_back_exactly_what_existed() -> None:
    from dynamodb_dr.restore.cutover import FAILED, cutover

    ssm, ledger = _FlakySsm(fail_on="/p/b"), _Ledger()
    ssm.values["/p/b"] = "b"  # `a` has no pointer yet, `b` has one
    with pytest.raises(CutoverFailed, match="every pointer was put back"):
        cutover(_plan("a", "b"), _Registry(ssm), _Active(), ledger, Pointers(ssm))  # type: ignore[arg-type]
    assert ssm.values == {"/p/b": "b"}, "the absent pointer stays absent"
    assert ledger.items["x"]["status"] == FAILED


@pytest.mark.parametrize(
    "path", sorted((PROJECT_ROOT / "events").glob("restore-*.json")), ids=lambda p: p.name
)
def test_sample_inputs_are_valid_requests(path: Path) -> None:
    request = parse_request(json.loads(path.read_text()))
    if request.rollback is None and request.resume is None:
        assert request.tables


class _Ledger:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, execution: str) -> Any:
        from dynamodb_dr.restore.cutover import CutoverRecord

        item = self.items.get(execution)
        return CutoverRecord(item["status"], item["changes"]) if item else None

    def put(self, execution: str, status: str, changes: list[PointerChange], **_: Any) -> None:
        self.items[execution] = {"status": status, "changes": changes, "restore_point": None}


class _Registry:
    def __init__(self, ssm: _FlakySsm) -> None:
        self.ssm = ssm

    def resolve(self, logical: str) -> Any:
        from dynamodb_dr.core.registry import ProtectedTable

        parameter = f"/p/{logical}"
        return ProtectedTable(
            logical, self.ssm.values.get(parameter, logical), parameter, parameter in self.ssm.values
        )


class _Active:
    def status(self, table: str) -> tuple[str, dict[str, str]]:
        return "ACTIVE", {}


def _plan(*logicals: str) -> Any:
    from dynamodb_dr.restore.models import Plan

    return Plan.model_validate(
        {
            "mode": "restore",
            "execution": "x",
            "started_at": "2026-11-26T10:00:00Z",
            "restore_time": "2026-11-26T09:00:00Z",
            "cutover": "automatic",
            "tables": [
                {"logical": n, "source": n, "source_arn": f"arn:{n}", "target": f"{n}-dr-1"} for n in logicals
            ],
        }
    )


def test_cutover_resumes_a_switch_that_died_half_way_and_refuses_foreign_changes() -> None:
    from dynamodb_dr.core.errors import CutoverConflict
    from dynamodb_dr.restore.cutover import PENDING, SWITCHED, cutover

    ssm, ledger = _FlakySsm(fail_on=""), _Ledger()
    plan = _plan("a", "b")
    ssm.values["/p/a"] = "a-dr-1"  # the first attempt switched `a`, then died
    ledger.put(
        "x",
        PENDING,
        [PointerChange("a", "/p/a", "a", "a-dr-1", False), PointerChange("b", "/p/b", "b", "b-dr-1", False)],
    )
    result = cutover(plan, _Registry(ssm), _Active(), ledger, Pointers(ssm))  # type: ignore[arg-type]
    assert result["status"] == "switched" and ledger.items["x"]["status"] == SWITCHED
    assert ssm.values == {"/p/a": "a-dr-1", "/p/b": "b-dr-1"}
    assert [c.previous for c in ledger.items["x"]["changes"]] == ["a", "b"]
    assert [c.previous_existed for c in ledger.items["x"]["changes"]] == [False, False]

    ssm2, ledger2 = _FlakySsm(fail_on=""), _Ledger()
    ssm2.values["/p/b"] = "b-dr-other"  # someone else's cutover
    with pytest.raises(CutoverConflict):
        cutover(plan, _Registry(ssm2), _Active(), ledger2, Pointers(ssm2))  # type: ignore[arg-type]
    assert ssm2.values == {"/p/b": "b-dr-other"} and ledger2.items == {}
