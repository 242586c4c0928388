"""Pure parts of the S3 export chain and the rebuild: plans, tokens, attempts, settings, decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import ConfigurationError, ExportChainError
from dynamodb_dr.exports.api import client_token
from dynamodb_dr.exports.chain import ExportRecord, record_sk
from dynamodb_dr.exports.planning import attempt_number
from dynamodb_dr.exports.reader import plan_rebuild
from dynamodb_dr.exports.schedule import ExportSettings, ExportTick

T = datetime(2026, 11, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def record(
    kind: str, to: float, frm: float | None = None, status: str = "COMPLETED", **extra: Any
) -> ExportRecord:
    return ExportRecord(
        logical_name="customers",
        export_type=kind,  # type: ignore[arg-type]
        tick="t",
        physical_table="customers",
        window_from=h(frm) if frm is not None else None,
        window_to=h(to),
        status=status,  # type: ignore[arg-type]
        client_token="x",
        s3_bucket="b",
        s3_prefix="p",
        started_at=T,
        **extra,
    )


CHAIN = [
    record("FULL", 0),
    *[record("INCREMENTAL", i + 1, i) for i in range(30)],
    record("FULL", 24),
]


def test_the_newest_full_at_or_before_the_time_then_its_increments_in_order() -> None:
    plan = plan_rebuild(CHAIN, h(27))
    assert plan.full.window_to == h(24)
    assert [r.window_to for r in plan.incrementals] == [h(25), h(26), h(27)]
    assert plan.reached == h(27)


def test_a_time_between_exports_stops_at_the_last_window_before_it() -> None:
    plan = plan_rebuild(CHAIN, h(3.5))
    assert plan.full.window_to == h(0) and plan.reached == h(3)


def test_a_window_may_start_before_the_full_export() -> None:
    chain = [
        record("FULL", 1.5),
        record("INCREMENTAL", 1, 0),
        record("INCREMENTAL", 2, 1),
        record("INCREMENTAL", 3, 2),
    ]
    plan = plan_rebuild(chain, h(3))
    assert [r.window_to for r in plan.incrementals] == [h(2), h(3)]


def test_a_gap_or_a_failed_window_ends_the_chain_there() -> None:
    chain = [
        record("FULL", 0),
        record("INCREMENTAL", 1, 0),
        record("INCREMENTAL", 2, 1, status="FAILED"),
        record("INCREMENTAL", 3, 2),
    ]
    assert plan_rebuild(chain, h(3)).reached == h(1)


def test_a_time_before_the_first_full_export_is_refused() -> None:
    with pytest.raises(ExportChainError, match="the first is at"):
        plan_rebuild(CHAIN, h(-1))
    with pytest.raises(ExportChainError, match="there is none"):
        plan_rebuild([record("INCREMENTAL", 1, 0)], h(2))


def test_an_incremental_without_a_valid_window_is_malformed_chain_state() -> None:
    with pytest.raises(ExportChainError, match="invalid window"):
        plan_rebuild([record("FULL", 0), record("INCREMENTAL", 1, 2)], h(3))


def test_client_tokens_are_stable_per_window_andattempt_number() -> None:
    assert client_token("t", "FULL", h(1), 1) == client_token("t", "FULL", h(1), 1)
    assert (
        len(
            {
                client_token("t", "FULL", h(1), 1),
                client_token("t", "FULL", h(1), 2),
                client_token("t", "INCREMENTAL", h(1), 1),
                client_token("u", "FULL", h(1), 1),
            }
        )
        == 4
    )


def test_a_failed_window_is_retried_under_the_next_attempt_number() -> None:
    assert attempt_number(None, h(2)) == 1
    assert attempt_number(record_sk(h(1), "INCREMENTAL", 1), h(2)) == 1
    assert attempt_number(record_sk(h(2), "INCREMENTAL", 1), h(2)) == 2
    assert attempt_number(record_sk(h(2), "INCREMENTAL", 2), h(2)) == 3


def test_records_sort_by_window_end_in_the_state_table() -> None:
    assert record_sk(h(1), "FULL") < record_sk(h(2), "INCREMENTAL") < record_sk(h(10), "FULL")


def test_export_settings_come_from_the_environment() -> None:
    stack = {"SSM_PREFIX": "/dynamodb-dr/s", "PROTECTED_TABLES": "customers", "STATE_TABLE": "state"}
    settings = ExportSettings.from_env({**stack, "EXPORT_BUCKET": "archive", "EXPORT_PREFIX": "/exp/"})
    assert settings.export_bucket == "archive" and settings.export_prefix == "exp"
    assert settings.export_topic_arn is None and settings.export_kms_key_id is None
    assert settings.protected_tables == ("customers",)
    with pytest.raises(ConfigurationError, match="EXPORT_BUCKET"):
        ExportSettings.from_env(stack)
    with pytest.raises(ConfigurationError, match="EXPORT_BUCKET"):
        ExportSettings.from_env({**stack, "EXPORT_BUCKET": "x"})  # too short for a bucket name


def test_a_tick_needs_an_export_task() -> None:
    tick = ExportTick.model_validate({"task": "export-full", "scheduled_time": "2026-11-01T01:00:00.123Z"})
    assert tick.tick_id == "20261101T010000Z"
    with pytest.raises(ValidationError):
        ExportTick.model_validate({"task": "backup", "scheduled_time": "2026-11-01T01:00:00Z"})


def test_binary_values_of_export_files_are_decoded_for_boto3() -> None:
    item = {
        "k": {"S": "a"},
        "b": {"B": "AAE="},
        "bs": {"BS": ["AQ=="]},
        "m": {"M": {"x": {"L": [{"B": "Ag=="}]}}},
    }
    assert item_from_json(item) == {
        "k": {"S": "a"},
        "b": {"B": b"\x00\x01"},
        "bs": {"BS": [b"\x01"]},
        "m": {"M": {"x": {"L": [{"B": b"\x02"}]}}},
    }


def test_manifest_keys_are_made_absolute() -> None:
    from dynamodb_dr.exports.tracking import manifest_key

    rec = record("FULL", 0)
    assert (
        manifest_key(rec, "p/AWSDynamoDB/1/manifest-summary.json") == "p/AWSDynamoDB/1/manifest-summary.json"
    )
    assert manifest_key(rec, "AWSDynamoDB/1/manifest-summary.json") == "p/AWSDynamoDB/1/manifest-summary.json"
    assert manifest_key(rec, None) is None


@pytest.mark.parametrize(
    ("code", "message", "error", "text"),
    [
        ("NoSuchBucket", "The specified bucket does not exist", "RebuildFailed", "does not exist"),
        ("AccessDenied", "User is not authorized to perform kms:Decrypt", "AccessDenied", "KMS denied"),
        ("KMS.DisabledException", "key disabled", "AccessDenied", "KMS denied"),
        ("SlowDown", "slow down", "TransientAwsError", "SlowDown"),
    ],
)
def test_s3_read_errors_are_named_clearly(code: str, message: str, error: str, text: str) -> None:
    from botocore.exceptions import ClientError

    from dynamodb_dr.core.errors import DynamoDbDrError
    from dynamodb_dr.exports.manifest import DataFile, Manifest
    from dynamodb_dr.exports.reader import ExportStore

    class FailingS3:
        def get_object(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": message}}, "GetObject")

    with pytest.raises(DynamoDbDrError) as raised:
        file = DataFile("k.json.gz", None, None)
        ExportStore(FailingS3(), "archive").lines(file, Manifest("EXP#1", "t", None, (file,))).__next__()
    assert raised.value.code == error and text in str(raised.value)
