"""Each function reads one settings model (a pydantic-settings subclass of StackSettings); a bad or
missing value is a ConfigurationError that names the environment variable."""

from __future__ import annotations

import pytest

from dynamodb_dr.backup.run import BackupSettings
from dynamodb_dr.cdc.archive import ArchiverSettings
from dynamodb_dr.cdc.follow import FollowerSettings
from dynamodb_dr.core.config import StackSettings
from dynamodb_dr.core.errors import ConfigurationError
from dynamodb_dr.exports.models import ExportSettings
from dynamodb_dr.posture.run import PostureSettings
from dynamodb_dr.restore.config import PointerSettings, RestoreSettings

BASE = {"PROTECTED_TABLES": "customers", "SSM_PREFIX": "/dynamodb-dr/s", "STATE_TABLE": "state"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:dynamodb-dr-RestoreTopic-ABC"


def test_restore_settings_read_topic_and_archive() -> None:
    settings = RestoreSettings.from_env(
        {**BASE, "RESTORE_TOPIC_ARN": TOPIC, "ARCHIVE_BUCKET": "my-archive.b1"}
    )
    assert settings.restore_topic_arn == TOPIC
    assert settings.archive_bucket == "my-archive.b1"
    assert settings.protected_tables == ("customers",)


def test_restore_settings_empty_optional_values_mean_off() -> None:
    settings = RestoreSettings.from_env({**BASE, "RESTORE_TOPIC_ARN": "", "ARCHIVE_BUCKET": ""})
    assert settings.restore_topic_arn is None and settings.archive_bucket is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RESTORE_TOPIC_ARN", "not-an-arn"), ("ARCHIVE_BUCKET", "Bad_Bucket"), ("ARCHIVE_BUCKET", "x")],
)
def test_a_bad_restore_value_is_a_configuration_error_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        RestoreSettings.from_env({**BASE, variable: value})


@pytest.mark.parametrize("model", [BackupSettings, RestoreSettings, PointerSettings])
def test_every_function_needs_the_stack_settings(model: type[BackupSettings]) -> None:
    with pytest.raises(ConfigurationError, match="STATE_TABLE"):
        model.from_env({k: v for k, v in BASE.items() if k != "STATE_TABLE"})
    assert model.from_env(BASE).state_table == "state"


STACK = {"SSM_PREFIX": "/dynamodb-dr/s", "PROTECTED_TABLES": "customers", "STATE_TABLE": "state"}
QUEUE = "arn:aws:sqs:us-east-1:123456789012:failures"
FOLLOWER = {**STACK, "ARCHIVER_FUNCTION": "archiver", "ON_FAILURE_ARN": QUEUE, "ARCHIVE_BUCKET": "archive"}


def test_follower_settings_default_to_the_template_values() -> None:
    settings = FollowerSettings.from_env(FOLLOWER)
    assert settings.archiver_function == "archiver"
    assert settings.mapping_config()["BatchSize"] == 1000
    assert settings.mapping_config()["DestinationConfig"] == {"OnFailure": {"Destination": QUEUE}}
    tuned = FollowerSettings.from_env({**FOLLOWER, "CDC_BATCH_SIZE": "500", "CDC_MAX_RETRY_ATTEMPTS": "-1"})
    assert tuned.mapping_config()["BatchSize"] == 500 and tuned.mapping_config()["MaximumRetryAttempts"] == -1


def test_posture_settings_treat_empty_as_not_deployed() -> None:
    settings = PostureSettings.from_env({**STACK, "ARCHIVE_BUCKET": "", "CDC_FAILURE_QUEUE_URL": ""})
    assert settings.config().archive_bucket is None and settings.config().failure_queue_url is None
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/failures"
    deployed = PostureSettings.from_env({**STACK, "ARCHIVE_BUCKET": "archive", "CDC_FAILURE_QUEUE_URL": url})
    assert deployed.config().archive_bucket == "archive" and deployed.config().failure_queue_url == url


@pytest.mark.parametrize(
    ("model", "env", "variable"),
    [
        (
            ArchiverSettings,
            {**STACK, "ARCHIVE_BUCKET": "archive", "CDC_MAX_RECORDS_PER_OBJECT": "x"},
            "CDC_MAX_RECORDS_PER_OBJECT",
        ),
        (
            ArchiverSettings,
            {**STACK, "ARCHIVE_BUCKET": "archive", "CDC_MAX_RECORDS_PER_OBJECT": "0"},
            "CDC_MAX_RECORDS_PER_OBJECT",
        ),
        (ArchiverSettings, STACK, "ARCHIVE_BUCKET"),
        (FollowerSettings, {**FOLLOWER, "CDC_BATCH_SIZE": "many"}, "CDC_BATCH_SIZE"),
        (FollowerSettings, {**FOLLOWER, "CDC_BATCH_SIZE": "20000"}, "CDC_BATCH_SIZE"),
        (FollowerSettings, {**FOLLOWER, "CDC_BATCHING_WINDOW_SECONDS": "-5"}, "CDC_BATCHING_WINDOW_SECONDS"),
        (FollowerSettings, {**FOLLOWER, "CDC_MAX_RECORD_AGE_SECONDS": "1e9"}, "CDC_MAX_RECORD_AGE_SECONDS"),
        (FollowerSettings, {**FOLLOWER, "ON_FAILURE_ARN": "queue"}, "ON_FAILURE_ARN"),
        (FollowerSettings, STACK, "ARCHIVER_FUNCTION"),
        (FollowerSettings, {**FOLLOWER, "ARCHIVE_BUCKET": ""}, "ARCHIVE_BUCKET"),
        (ExportSettings, STACK, "EXPORT_BUCKET"),
        (PostureSettings, {**STACK, "CDC_FAILURE_QUEUE_URL": "failures"}, "CDC_FAILURE_QUEUE_URL"),
        (PostureSettings, {**STACK, "PROTECTED_TABLES": "a"}, "PROTECTED_TABLES"),  # empty is allowed (tags)
    ],
)
def test_a_bad_value_names_its_variable(
    model: type[StackSettings], env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        model.from_env(env)
