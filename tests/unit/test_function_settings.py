"""Per-function settings of the backup, restore and pointer functions: read from the environment,
a bad value is a ConfigurationError naming the variable."""

from __future__ import annotations

import pytest

from dynamodb_dr.backup.run import BackupSettings
from dynamodb_dr.core.errors import ConfigurationError
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
