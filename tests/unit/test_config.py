import json

import pytest

from dynamodb_dr.core.config import Settings, TablePolicy, resolve_policies
from dynamodb_dr.core.errors import ConfigurationError

ENV = {
    "PROTECTED_TABLES": "customers, orders",
    "SSM_PREFIX": "/dynamodb-dr/prod/",
    "STATE_TABLE": "state",
    "DEFAULT_POLICY": json.dumps({"backup_retention_days": 14, "min_backups_kept": 2}),
}


def settings() -> Settings:
    return Settings.from_env(ENV)


def test_settings_from_env_reads_the_template_variables():
    s = settings()
    assert s.protected_tables == ("customers", "orders")
    assert s.ssm_prefix == "/dynamodb-dr/prod"
    assert s.default_policy.backup_retention_days == 14
    assert s.default_policy.enforce_pitr is True
    assert s.live_table_parameter("orders") == "/dynamodb-dr/prod/tables/orders/live-table"
    assert s.policy_parameter == "/dynamodb-dr/prod/policy"


@pytest.mark.parametrize(
    "change",
    [
        {"STACK_NAME": "not a stack name"},
        {"PROTECTED_TABLES": "ok-table,no spaces allowed"},
        {"PROTECTED_TABLES": "a"},
        {"PROTECTED_TABLES": "orders,orders"},
        {"DEFAULT_POLICY": "{not json"},
        {"DEFAULT_POLICY": json.dumps({"min_backups_kept": 0})},
        {"DEFAULT_POLICY": json.dumps({"unknown": 1})},
        {"SSM_PREFIX": "no-leading-slash"},
    ],
)
def test_bad_settings_are_a_named_configuration_error(change):
    with pytest.raises(ConfigurationError):
        Settings.from_env({**ENV, **change})


def test_missing_variable_names_it():
    env = dict(ENV)
    del env["STATE_TABLE"]
    with pytest.raises(ConfigurationError, match="STATE_TABLE"):
        Settings.from_env(env)


def test_no_document_means_defaults_for_every_table():
    resolved = resolve_policies(settings(), None)
    assert resolved.policies == dict.fromkeys(("customers", "orders"), settings().default_policy)
    assert resolved.invalid == {}


def test_overrides_merge_over_defaults_per_table():
    doc = json.dumps({"tables": {"orders": {"backup_retention_days": 90, "enforce_pitr": False}}})
    resolved = resolve_policies(settings(), doc)
    assert resolved.policies["orders"] == TablePolicy(
        backup_retention_days=90, min_backups_kept=2, enforce_pitr=False
    )
    assert resolved.policies["customers"].backup_retention_days == 14
    assert resolved.invalid == {}


def test_one_bad_entry_only_marks_its_own_table_invalid():
    doc = json.dumps({"tables": {"orders": {"min_backups_kept": -1}, "customers": {"rpo_minutes": 5}}})
    resolved = resolve_policies(settings(), doc)
    assert set(resolved.invalid) == {"orders"}
    assert "min_backups_kept" in resolved.invalid["orders"]
    assert resolved.policies["orders"] == settings().default_policy
    assert resolved.policies["customers"].rpo_minutes == 5


@pytest.mark.parametrize(
    "doc",
    [
        "{oops",
        "[]",
        json.dumps({"tables": []}),
        json.dumps({"tables": {"payments": {}}}),
        json.dumps({"x": 1}),
    ],
)
def test_a_malformed_document_marks_every_table_invalid(doc):
    resolved = resolve_policies(settings(), doc)
    assert set(resolved.invalid) == {"customers", "orders"}
    assert not resolved.is_valid("customers")


def test_non_object_entry_is_invalid_for_that_table():
    resolved = resolve_policies(settings(), json.dumps({"tables": {"orders": 7}}))
    assert set(resolved.invalid) == {"orders"}


def test_a_stack_may_name_no_table_and_protects_what_is_tagged_for_it():
    s = Settings.from_env({**ENV, "PROTECTED_TABLES": ""})
    assert s.protected_tables == ()
    assert s.stack == "prod"  # from the SSM prefix when STACK_NAME is absent
    assert s.protect_tags == {"dynamodb-dr:protect": "prod"}
    assert Settings.from_env({**ENV, "STACK_NAME": "dr-prod"}).protect_tags == {
        "dynamodb-dr:protect": "dr-prod"
    }
