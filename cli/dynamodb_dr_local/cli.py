"""`dynamodb-dr`: the operator CLI. Each sub-command lives in `commands/<name>.py`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dynamodb_dr.core.errors import DynamoDbDrError
from dynamodb_dr_local.commands import COMMAND_MODULES


class CliError(Exception):
    """An expected failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynamodb-dr",
        description="Disaster recovery for DynamoDB: drills, restores, replay and posture.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dynamodb_dr_local.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (CliError, DynamoDbDrError) as exc:
        code = getattr(exc, "code", "error")
        print(f"dynamodb-dr: {code}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dynamodb-dr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
