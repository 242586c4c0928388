"""What the CDC commands (replay, item) share: stack lookup, time and key parsing."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.core.aws import AwsClients, aws_errors, error_code
from dynamodb_dr_local.cli import CliError

TYPE_TAGS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dynamodb-dr", help="the dynamodb-dr stack (default: dynamodb-dr)")
    parser.add_argument("--bucket", help="archive bucket (default: the stack's ArchiveBucketName output)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. a local moto server)")
    parser.add_argument("--region", help="AWS region")


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
    clients: AwsClients
    stack: str
    bucket: str
    protected: tuple[str, ...]
    live: dict[str, str]  # live physical table -> logical table

    def store(self) -> ArchiveStore:
        return ArchiveStore(self.clients.client("s3"), self.bucket)

    def require_protected(self, table: str) -> None:
        if table not in self.protected:
            raise CliError(
                f"{table} is not protected by stack {self.stack} (protected: {', '.join(self.protected)})"
            )

    def live_table(self, logical: str) -> str:
        return next(physical for physical, name in self.live.items() if name == logical)


def stack_context(args: argparse.Namespace) -> StackContext:
    clients = AwsClients(region_name=args.region, endpoint_url=args.endpoint_url)
    try:
        with aws_errors():
            stack = clients.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    except Exception as exc:
        raise CliError(f"cannot read stack {args.stack}: {error_code(exc.__cause__ or exc)}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    # A CommaDelimitedList; some emulators echo it as a Python list literal.
    listed = parameters.get("ProtectedTables", "").strip("[]").replace("'", "").replace('"', "")
    protected = tuple(t.strip() for t in listed.split(",") if t.strip())
    bucket = args.bucket or outputs.get("ArchiveBucketName")
    if not bucket:
        raise CliError(f"stack {args.stack} has no ArchiveBucketName output; pass --bucket")
    ssm = clients.client("ssm")
    live: dict[str, str] = {}
    for logical in protected:
        try:
            with aws_errors(table=logical):
                name = f"/dynamodb-dr/{args.stack}/tables/{logical}/live-table"
                live[ssm.get_parameter(Name=name)["Parameter"]["Value"]] = logical
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ParameterNotFound":
                raise
            live[logical] = logical
    return StackContext(clients, args.stack, bucket, protected, live)
