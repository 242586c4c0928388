"""`dynamodb-dr cost`: the monthly cost of protecting one table under the stack's configuration."""

from __future__ import annotations

import argparse
import shlex
import tomllib
from pathlib import Path
from typing import Any

from dynamodb_dr_local.cost import (
    FORMULA,
    CostInputError,
    describe,
    monthly,
    prices,
    template_defaults,
    usage_from_parameters,
)
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output, key_values, table
from dynamodb_dr_local.stack_lookup import DEFAULT_CONFIG_ENV, find_samconfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cost",
        help="estimate the monthly cost of protecting one table (formula and prices shown)",
        description=(
            "Monthly USD for one table of --size-gb written --writes-per-second, under the template's "
            "defaults overridden by samconfig.toml's parameter_overrides and --parameter. Works offline."
        ),
    )
    parser.add_argument("--size-gb", type=float, required=True, help="table size in GB")
    parser.add_argument(
        "--writes-per-second", type=float, required=True, help="average item writes per second"
    )
    parser.add_argument("--item-kb", type=float, default=1.0, help="average item size in KB (default 1)")
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter as deployed (repeatable), e.g. BackupRetentionDays=14",
    )
    parser.add_argument("--config-env", default=DEFAULT_CONFIG_ENV, help="samconfig.toml environment to read")
    parser.add_argument("--no-samconfig", action="store_true", help="template defaults only")
    parser.set_defaults(run=_run)


def samconfig_parameters(path: Path, config_env: str) -> dict[str, str]:
    """parameter_overrides of the deploy command (list or string form) of one environment."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", hint="pass --no-samconfig") from None
    section = config.get(config_env, {})
    overrides: Any = None
    for command in ("deploy", "global"):
        overrides = section.get(command, {}).get("parameters", {}).get("parameter_overrides")
        if overrides:
            break
    words = overrides if isinstance(overrides, list) else shlex.split(str(overrides or ""))
    found: dict[str, str] = {}
    for word in words:
        name, _, value = str(word).partition("=")
        found[name.strip()] = value.strip().strip('"')
    return found


def _run(args: argparse.Namespace) -> int:
    out = Output(json_mode=args.json)
    if args.size_gb < 0 or args.writes_per_second < 0 or args.item_kb <= 0:
        raise CliError("--size-gb and --writes-per-second must be >= 0, --item-kb > 0", name="InvalidInput")
    parameters = template_defaults()
    source = "template defaults"
    samconfig = None if args.no_samconfig else find_samconfig(Path.cwd())
    if samconfig is not None:
        parameters.update(samconfig_parameters(samconfig, args.config_env))
        source += f" + {samconfig} [{args.config_env}]"
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or name not in parameters:
            raise CliError(
                f"--parameter {item!r}: not NAME=VALUE of a template parameter", name="InvalidInput"
            )
        parameters[name] = value
    try:
        usage = usage_from_parameters(
            parameters, table_gb=args.size_gb, writes_per_second=args.writes_per_second, item_kb=args.item_kb
        )
    except CostInputError as exc:
        raise CliError(str(exc), name="InvalidInput") from None
    costs = monthly(usage)
    total = round(sum(costs.values()), 2)
    result = {
        "configuration": source,
        "monthly_usd": {name: round(value, 2) for name, value in costs.items()},
        "total_usd": total,
        "usage": describe(usage),
        "formula": {name: FORMULA[name] for name in costs},
        "prices_usd": prices(),
    }

    def human() -> str:
        rows = [(name, f"{value:,.2f}", FORMULA[name]) for name, value in costs.items()]
        rows.append(("total", f"{total:,.2f}", ""))
        lines = [
            f"monthly cost of one {args.size_gb:,g} GB table at {args.writes_per_second:,g} writes/s",
            f"configuration: {source}",
            table(("COMPONENT", "USD", "FORMULA"), rows),
            "",
            "usage assumed:",
            key_values(list(describe(usage).items())),
            "prices assumed (USD, us-east-1 list prices; check your region):",
            key_values(list(prices().items())),
        ]
        return "\n".join(lines)

    out.result(result, human)
    return 0
