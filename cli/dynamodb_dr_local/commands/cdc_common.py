"""What the CDC commands (replay, item) share: the stack and its archive, time and key parsing."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr_local import stack_lookup
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.stack_lookup import Stack

TYPE_TAGS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    stack_lookup.add_stack_arguments(parser)
    parser.add_argument("--bucket", help="archive bucket (default: the stack's ArchiveBucketName output)")


def parse_time(text: str) -> datetime:
    """ISO 8601 (UTC when no offset), `now`, or `now-<N>{m,h,d}`."""
    value = text.strip()
    if value.startswith("now"):
        rest, now = value[3:], datetime.now(UTC)
        if not rest:
            return now
        units = {"m": "minutes", "h": "hours", "d": "days"}
        if rest[0] == "-" and rest[-1] in units and rest[1:-1].isdigit():
            return now - timedelta(**{units[rest[-1]]: int(rest[1:-1])})
        raise argparse.ArgumentTypeError(f"bad relative time {text!r} (use now-30m, now-2h, now-1d)")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad time {text!r} (use ISO 8601, e.g. 2026-11-26T10:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_key(text: str) -> dict[str, Any]:
    """A key as JSON: DynamoDB JSON ({"id": {"S": "a"}}) or plain ({"id": "a"})."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError("--key must be a JSON object") from None
    if not isinstance(value, dict) or not value:
        raise argparse.ArgumentTypeError("--key must be a non-empty JSON object")
    if all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in TYPE_TAGS for v in value.values()):
        return value
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    # Numbers stay numbers, exactly as typed (0.5 is N "0.5", never a float or a string).
    parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    for name, part in parsed.items():
        if not isinstance(part, str | Decimal):
            raise argparse.ArgumentTypeError(f"--key {name!r}: a key value is a string or a number")
    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in parsed.items()}


@dataclass
class StackContext:
    """The stack (one lookup, `stack_lookup`) and the archive bucket the CDC commands read."""

    stack_info: Stack
    bucket: str

    @property
    def clients(self) -> AwsClients:
        return self.stack_info.clients

    @property
    def stack(self) -> str:
        return self.stack_info.name

    @property
    def protected(self) -> tuple[str, ...]:
        return self.stack_info.protected_tables

    @property
    def live(self) -> dict[str, str]:
        """live physical table -> logical table."""
        return self.stack_info.live_tables()

    def store(self) -> ArchiveStore:
        return ArchiveStore(self.clients.client("s3"), self.bucket)

    def require_protected(self, table: str) -> None:
        self.stack_info.require_protected(table)

    def live_table(self, logical: str) -> str:
        return self.stack_info.live_table(logical)


def stack_context(args: argparse.Namespace) -> StackContext:
    stack = stack_lookup.lookup(args)
    bucket = args.bucket or stack.outputs.get("ArchiveBucketName")
    if not bucket:
        raise CliError(f"stack {stack.name} has no ArchiveBucketName output", hint="pass --bucket")
    return StackContext(stack, bucket)


def refuse_live_target(context: StackContext, target: str, *, force: bool) -> None:
    """Writing into a protected table's live table needs --force: checked before anything runs."""
    if target in context.live and not force:
        raise CliError(
            f"{target} is the live table of protected table {context.live[target]}",
            hint="add --force to write into it anyway (or pick another --target)",
            name="ReplayRefused",
        )
