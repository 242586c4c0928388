"""Find a deployed dynamodb-dr stack's resources (from samconfig.toml or flags)."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr_local import PROJECT_ROOT


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", help="stack name (default: samconfig.toml's stack_name for --config-env)")
    parser.add_argument(
        "--config-env", default="default", help="samconfig.toml environment (default: default)"
    )
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument(
        "--endpoint-url", help="talk to an emulator (e.g. `dynamodb-dr local`) instead of AWS"
    )


def stack_name(args: argparse.Namespace, samconfig: Path = PROJECT_ROOT / "samconfig.toml") -> str:
    if args.stack:
        return str(args.stack)
    from dynamodb_dr_local.cli import CliError

    try:
        config = tomllib.loads(samconfig.read_text())
        return str(config[args.config_env]["global"]["parameters"]["stack_name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"no --stack given and no stack_name for '{args.config_env}' in {samconfig}") from exc


def clients(args: argparse.Namespace) -> AwsClients:
    return AwsClients(region_name=args.region, endpoint_url=args.endpoint_url)


def stack_outputs(aws: AwsClients, name: str) -> dict[str, str]:
    from dynamodb_dr_local.cli import CliError

    cfn: Any = aws.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except Exception as exc:
        raise CliError(f"stack {name!r} not found ({type(exc).__name__})") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
