"""Deployment settings (from the function's environment) and the per-table protection policy."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from dynamodb_dr.core import paths
from dynamodb_dr.core.errors import ConfigurationError, PolicyError
from dynamodb_dr.core.model import DomainModel

TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
# A logical name also forms SSM parameter paths and backup names, so it is a little stricter.
LOGICAL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,200}$")


class TablePolicy(DomainModel):
    """How one protected table is protected. Defaults come from the template's parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enforce_pitr: bool = True
    pitr_recovery_period_days: int = Field(default=35, ge=1, le=35)
    backups_enabled: bool = True
    backup_retention_days: int = Field(default=35, ge=1, le=3650)
    min_backups_kept: int = Field(default=3, ge=1, le=1000)
    # The first backup of each calendar month is kept this long (0: no monthly tier).
    monthly_backup_retention_days: int = Field(default=0, ge=0, le=3650)
    rpo_minutes: int = Field(default=15, ge=1, le=10080)
    rto_minutes: int = Field(default=60, ge=1, le=10080)
    # Keep a global-table replica in this region (None: no replica guard).
    dr_replica_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @field_validator("dr_replica_region", mode="before")
    @classmethod
    def _empty_region_is_none(cls, value: object) -> object:
        return value or None


class StackSettings(DomainModel):
    """What every function needs to know about its deployment, read from the environment the
    template sets (`PROTECTED_TABLES`, `SSM_PREFIX`, `STATE_TABLE`, `DEFAULT_POLICY`, ...).

    Each function's settings subclass this with its own variables; a handler reads them once per
    invocation with `from_env()`. A missing or bad value is a `ConfigurationError` naming it.

    Read the way pydantic-settings' environment source reads them (a field from the variable of
    its name or of one of its validation aliases, case-insensitive; values given to the
    constructor win), without the library: importing pydantic-settings costs ~70 ms of CPU at
    every cold start (all its providers, asyncio, argparse, dotenv; issue 16's import budget is
    100 ms). Values are never JSON-decoded: list and model fields parse their own strings.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    ssm_prefix: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
    # The names given at deploy; the full protected set adds the tables tagged for the stack
    # (`core.registry.with_fleet`), so a stack may name none.
    protected_tables: tuple[str, ...] = ()
    stack_name: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    state_table: str = Field(min_length=1)
    default_policy: TablePolicy = Field(default_factory=TablePolicy)
    metrics_namespace: str = Field(
        default="DynamoDBDR",
        validation_alias=AliasChoices("metrics_namespace", "POWERTOOLS_METRICS_NAMESPACE"),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_environment_values(type(self)), **values})

    @field_validator("ssm_prefix", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: object) -> object:
        return value.rstrip("/") if isinstance(value, str) else value

    @field_validator("protected_tables", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("default_policy", mode="before")
    @classmethod
    def _json_policy(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}  # a JSONDecodeError is a ValueError
        return value

    @field_validator("protected_tables")
    @classmethod
    def _valid_table_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not LOGICAL_NAME_PATTERN.match(name):
                raise ValueError(f"invalid protected table name {name!r}")
        if len(set(names)) != len(names):
            raise ValueError("protected table names repeat")
        return names

    @property
    def stack(self) -> str:
        """The stack's name (STACK_NAME, else the last part of its SSM prefix)."""
        return self.stack_name or self.ssm_prefix.rsplit("/", 1)[-1]

    @property
    def protect_tags(self) -> dict[str, str]:
        """The tag that puts a table under this stack's protection (and its roles' reach)."""
        return {paths.PROTECT_TAG_KEY: self.stack}

    @property
    def policy_parameter(self) -> str:
        return paths.policy_parameter(self.ssm_prefix)

    def live_table_parameter(self, logical_name: str) -> str:
        return paths.live_table_parameter(self.ssm_prefix, logical_name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the settings from `environ` (default: the process environment)."""
        token = _ENVIRON.set(dict(os.environ if environ is None else environ))
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigurationError(f"invalid settings: {_short(exc, env=True)}") from exc
        finally:
            _ENVIRON.reset(token)


# The mapping from_env() reads (the process environment unless a test passes its own).
_ENVIRON: ContextVar[dict[str, str] | None] = ContextVar("dynamodb_dr_environ", default=None)


def _environment_values(model: type[BaseModel]) -> dict[str, str]:
    """Each field's value from the environment: its name's variable, or its first validation
    alias present, case-insensitive (no .env files, no secrets directory)."""
    given = _ENVIRON.get()
    environ = {k.lower(): v for k, v in (os.environ if given is None else given).items()}
    values: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias or name]
        for candidate in names:
            if isinstance(candidate, str) and candidate.lower() in environ:
                values[name] = environ[candidate.lower()]
                break
    return values


# The name most of the domain uses: the stack-wide settings every function shares.
Settings = StackSettings


class ResolvedPolicies(DomainModel):
    """The effective policy of each protected table, and the tables whose policy entry was bad."""

    policies: dict[str, TablePolicy]
    invalid: dict[str, str] = Field(default_factory=dict)

    def is_valid(self, table: str) -> bool:
        return table not in self.invalid


def resolve_policies(settings: Settings, document: str | None) -> ResolvedPolicies:
    """Merge the operator's policy document over the deploy-time defaults, table by table.

    A bad entry only affects its own table: that table falls back to the defaults and is marked
    invalid (callers then avoid destructive steps such as pruning). A document that is not JSON,
    or names tables that are not protected, marks every table invalid.
    """
    defaults = settings.default_policy
    policies = dict.fromkeys(settings.protected_tables, defaults)
    if not document or not document.strip():
        return ResolvedPolicies(policies=policies)
    try:
        entries = _table_entries(document, settings.protected_tables)
    except PolicyError as exc:
        return ResolvedPolicies(policies=policies, invalid=dict.fromkeys(settings.protected_tables, str(exc)))
    invalid: dict[str, str] = {}
    for table, overrides in entries.items():
        try:
            policies[table] = TablePolicy.model_validate({**defaults.model_dump(), **overrides})
        except (ValidationError, TypeError) as exc:
            invalid[table] = f"invalid policy for {table}: {_short(exc)}"
    return ResolvedPolicies(policies=policies, invalid=invalid)


def _table_entries(document: str, protected: tuple[str, ...]) -> dict[str, Any]:
    try:
        parsed = json.loads(document)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy document is not JSON: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(parsed, dict) or not isinstance(parsed.get("tables", {}), dict):
        raise PolicyError('policy document must be an object like {"tables": {"<table>": {...}}}')
    unknown_keys = set(parsed) - {"tables"}
    if unknown_keys:
        raise PolicyError(f"unknown policy keys: {sorted(unknown_keys)}")
    tables: dict[str, Any] = parsed.get("tables", {})
    unprotected = sorted(set(tables) - set(protected))
    if unprotected:
        raise PolicyError(f"policy names tables that are not protected: {unprotected}")
    return {
        name: entry if isinstance(entry, dict) else {"__invalid__": entry} for name, entry in tables.items()
    }


def _short(exc: Exception, *, env: bool = False) -> str:
    """A validation error in one line; `env` names fields as the environment variables they come from."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "value"
            parts.append(f"{where.upper() if env else where}: {err['msg']}")
        return "; ".join(parts)
    return str(exc)
