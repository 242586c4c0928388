"""The one stack lookup of the CLI: which dynamodb-dr stack a command talks to, and what it holds.

The stack name comes from, in order:
  1. `--stack NAME`;
  2. the environment variable DYNAMODB_DR_STACK (`dynamodb-dr local` prints the line to export);
  3. `stack_name` of `--config-env` (default: "default") in the nearest samconfig.toml, searched
     from the current directory upwards (what `sam deploy` used).
The endpoint is `--endpoint-url`, else boto3's own AWS_ENDPOINT_URL; the region `--region`, else
the SDK's configuration.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core import paths
from dynamodb_dr.core.aws import AwsClients, error_code
from dynamodb_dr.core.config import Settings, TablePolicy
from dynamodb_dr.core.registry import TableRegistry, tables_tagged_for
from dynamodb_dr_local.errors import CliError

if TYPE_CHECKING:
    from types_boto3_cloudformation.type_defs import StackTypeDef

STACK_ENV = "DYNAMODB_DR_STACK"
SAMCONFIG = "samconfig.toml"
DEFAULT_CONFIG_ENV = "default"
# Template parameters that set the default policy (TablePolicy field names).
POLICY_PARAMETERS = {
    "EnforcePitr": "enforce_pitr",
    "PitrRecoveryPeriodDays": "pitr_recovery_period_days",
    "BackupRetentionDays": "backup_retention_days",
    "MinBackupsKept": "min_backups_kept",
    "RpoMinutes": "rpo_minutes",
    "RtoMinutes": "rto_minutes",
    "DrReplicaRegion": "dr_replica_region",
}


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stack (see `dynamodb-dr --help`)")
    group.add_argument(
        "--stack", help=f"dynamodb-dr stack name (default: ${STACK_ENV}, else samconfig.toml's stack_name)"
    )
    group.add_argument(
        "--config-env",
        default=DEFAULT_CONFIG_ENV,
        help="samconfig.toml environment to read stack_name from (default: default)",
    )
    group.add_argument("--region", help="AWS region (default: $AWS_DEFAULT_REGION or the profile's)")
    group.add_argument(
        "--endpoint-url", help="an emulator's URL, e.g. `dynamodb-dr local`'s (default: $AWS_ENDPOINT_URL)"
    )


@dataclass(frozen=True)
class StackName:
    name: str
    source: str  # where it came from, for messages: "--stack", "$DYNAMODB_DR_STACK", "<path> [env]"


def find_samconfig(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / SAMCONFIG
        if candidate.is_file():
            return candidate
    return None


def resolve_stack_name(
    args: argparse.Namespace, *, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> StackName:
    """The stack name by the documented order; a one-line CliError saying how to give one."""
    environ = os.environ if environ is None else environ
    if getattr(args, "stack", None):
        return StackName(str(args.stack), "--stack")
    if environ.get(STACK_ENV, "").strip():
        return StackName(environ[STACK_ENV].strip(), f"${STACK_ENV}")
    config_env = getattr(args, "config_env", None) or DEFAULT_CONFIG_ENV
    start = (cwd or Path.cwd()).resolve()
    samconfig = find_samconfig(start)
    if samconfig is None:
        raise CliError(
            f"no stack given and no {SAMCONFIG} in {start} or above",
            hint=f"pass --stack NAME or export {STACK_ENV}=NAME",
        )
    return StackName(_samconfig_stack(samconfig, config_env), f"{samconfig} [{config_env}]")


def _samconfig_stack(path: Path, config_env: str) -> str:
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", hint="pass --stack NAME") from None
    environment = config.get(config_env)
    if not isinstance(environment, dict):
        known = ", ".join(k for k, v in config.items() if isinstance(v, dict)) or "none"
        raise CliError(
            f"{path} has no environment {config_env!r} (it has: {known})",
            hint="pass --config-env with one of those, or --stack NAME",
        )
    for command in ("global", "deploy"):
        name = environment.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    raise CliError(f"{path} [{config_env}] sets no stack_name", hint="pass --stack NAME")


def clients(args: argparse.Namespace) -> AwsClients:
    region, endpoint = getattr(args, "region", None), getattr(args, "endpoint_url", None)
    return AwsClients(region_name=region, endpoint_url=endpoint)


def command_hint(args: argparse.Namespace, *words: str) -> str:
    """A dynamodb-dr command line that works when pasted: it repeats the flags that chose the
    stack, region and endpoint on this command line (environment and samconfig apply again)."""
    parts = ["dynamodb-dr", *words]
    for flag, attribute in (("--stack", "stack"), ("--region", "region"), ("--endpoint-url", "endpoint_url")):
        value = getattr(args, attribute, None)
        if value:
            parts += [flag, str(value)]
    config_env = getattr(args, "config_env", DEFAULT_CONFIG_ENV)
    if not getattr(args, "stack", None) and config_env and config_env != DEFAULT_CONFIG_ENV:
        parts += ["--config-env", config_env]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass
class Stack:
    """A deployed dynamodb-dr stack as the CLI sees it: outputs, parameters, protected tables."""

    name: str
    source: str
    clients: AwsClients
    outputs: dict[str, str]
    parameters: dict[str, str]
    _live: dict[str, str] | None = field(default=None, repr=False)
    _tagged: tuple[str, ...] | None = field(default=None, repr=False)

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(
                f"stack {self.name} has no {key} output (is it a dynamodb-dr stack, and up to date?)",
                hint="deploy the current template: sam build && sam deploy",
            )
        return value

    @property
    def protected_tables(self) -> tuple[str, ...]:
        """The names the stack was deployed with, then the tables tagged for it (read once)."""
        # Some emulators echo a list parameter as a Python list literal.
        listed = self.parameters.get("ProtectedTables", "").strip("[]").replace("'", "").replace('"', "")
        names = tuple(t.strip() for t in listed.split(",") if t.strip())
        if self._tagged is None:
            self._tagged = tables_tagged_for(self.name, self.clients.client("resourcegroupstaggingapi"))
        return names + tuple(t for t in self._tagged if t not in names)

    @property
    def ssm_prefix(self) -> str:
        """The stack's SSM prefix, read from the deployed policy parameter's name."""
        policy = self.outputs.get("PolicyParameterName", "")
        return policy.rsplit("/", 1)[0] if policy.endswith("/policy") else paths.stack_prefix(self.name)

    def settings(self) -> Settings:
        tables = self.protected_tables
        if not tables:
            raise CliError(
                f"stack {self.name} protects no tables (ProtectedTables is empty and no table is tagged "
                f"{paths.PROTECT_TAG_KEY}={self.name})"
            )
        policy: dict[str, Any] = {
            field_name: self.parameters[name]
            for name, field_name in POLICY_PARAMETERS.items()
            if self.parameters.get(name)
        }
        try:
            return Settings(
                ssm_prefix=self.ssm_prefix,
                protected_tables=tables,
                state_table=self.output("StateTableName"),
                default_policy=TablePolicy.model_validate(policy),
            )
        except ValueError as exc:
            raise CliError(f"stack {self.name} has invalid parameters: {exc}") from None

    def registry(self) -> TableRegistry:
        return TableRegistry(self.settings(), self.clients.client("ssm"))

    def require_protected(self, logical: str) -> None:
        if logical not in self.protected_tables:
            raise CliError(
                f"table {logical!r} is not protected by stack {self.name}",
                hint=f"protected: {', '.join(self.protected_tables) or 'none'}",
                name="TableNotProtected",
            )

    def live_tables(self) -> dict[str, str]:
        """live physical table -> logical table, from the SSM pointers (the original table until a
        restore cuts over)."""
        if self._live is None:
            registry = self.registry()
            self._live = {}
            for logical in self.protected_tables:
                self._live[registry.resolve(logical).live_table] = logical
        return self._live

    def live_table(self, logical: str) -> str:
        self.require_protected(logical)
        return next(physical for physical, name in self.live_tables().items() if name == logical)


def lookup(args: argparse.Namespace) -> Stack:
    """Resolve the stack name and read the deployed stack (one DescribeStacks call)."""
    resolved = resolve_stack_name(args)
    aws = clients(args)
    try:
        described: StackTypeDef = aws.client("cloudformation").describe_stacks(StackName=resolved.name)[
            "Stacks"
        ][0]
    except Exception as exc:
        code = error_code(exc)
        if code == "ValidationError" and "does not exist" in str(exc):
            region = aws.client("cloudformation").meta.region_name
            raise CliError(
                f"stack {resolved.name!r} (from {resolved.source}) not found in {region}"
                + (f" at {aws.endpoint_url}" if aws.endpoint_url else ""),
                hint="check --stack/--region, or that `dynamodb-dr local` is the endpoint you meant",
                name="StackNotFound",
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    return Stack(resolved.name, resolved.source, aws, outputs, parameters)
