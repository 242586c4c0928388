"""`dynamodb-dr preflight`: check an account before the first deploy, and say what the deploy will
change on the customer's tables. Read-only: it never changes anything.

Each finding is one line: OK, CHANGE (what the deploy will do to a table), WARN, or ERROR with the
fix. The exit status is 1 when any ERROR was found (the deploy would fail or protect nothing).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

from dynamodb_dr.core import paths
from dynamodb_dr.core.aws import AwsClients, aws_errors, error_code
from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN

# The template's fixed names put the stack name in a state machine name (at most 80 characters).
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,71}$")
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
# A restore scans up to 40 segments at once (the state machine's MaxConcurrency) besides the
# scheduled functions; below this much unreserved concurrency restores are throttled (slower RTO).
CONCURRENCY_WANTED = 50
NAMES_MAX_LENGTH = 2048  # the template's ProtectedTables MaxLength


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    @property
    def errors(self) -> int:
        return sum(1 for level, _ in self.lines if level == "ERROR")

    def render(self) -> str:
        return "\n".join(f"{level:<6} {text}" for level, text in self.lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preflight",
        help="check an account before deploying; show what the first deploy changes on your tables",
        description=(
            "Read-only checks with your credentials: the named tables exist (and their PITR and "
            "stream state), tables tagged for the stack, an existing stack of the same name, the "
            "Lambda concurrency quota and the DynamoDB backup/export/restore quotas. Prints what the "
            "first deploy will change on each table (tag, PITR, stream). Exit 1 on any ERROR."
        ),
    )
    parser.add_argument("--stack", required=True, help="the stack name you will deploy")
    parser.add_argument("--tables", default="", help="ProtectedTables, comma separated (may be empty)")
    parser.add_argument("--enforce-pitr", default="true", choices=["true", "false"])
    parser.add_argument("--pitr-recovery-period-days", type=int, default=35)
    parser.add_argument("--kinesis-stream-arns", default="", help="RestoreKinesisStreamArns")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument("--endpoint-url", help="talk to an emulator (e.g. `dynamodb-dr local`)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    clients = AwsClients(region_name=args.region, endpoint_url=args.endpoint_url)
    report = preflight(
        clients,
        stack=args.stack,
        names=tuple(n.strip() for n in args.tables.split(",") if n.strip()),
        enforce_pitr=args.enforce_pitr == "true",
        pitr_days=args.pitr_recovery_period_days,
        kinesis_streams=tuple(a.strip() for a in args.kinesis_stream_arns.split(",") if a.strip()),
    )
    print(report.render())
    changes = sum(1 for level, _ in report.lines if level == "CHANGE")
    print(f"\n{report.errors} error(s); the first deploy changes {changes} thing(s) on your tables (above).")
    return 1 if report.errors else 0


def preflight(
    clients: AwsClients,
    *,
    stack: str,
    names: tuple[str, ...],
    enforce_pitr: bool = True,
    pitr_days: int = 35,
    kinesis_streams: tuple[str, ...] = (),
) -> Report:
    report = Report()
    _check_stack(clients, stack, report)
    _check_names(names, report)
    tagged = _tagged_tables(clients, stack, report)
    tables = list(dict.fromkeys([*names, *tagged]))
    if not tables:
        report.add(
            "ERROR",
            f"nothing to protect: ProtectedTables is empty and no table is tagged "
            f"{paths.PROTECT_TAG_KEY}={stack}; name tables or tag them",
        )
    for table in tables:
        _check_table(clients, table, stack, table in names, enforce_pitr, pitr_days, kinesis_streams, report)
    _check_concurrency(clients, report)
    _check_dynamodb_quotas(clients, len(tables), report)
    return report


def _check_stack(clients: AwsClients, stack: str, report: Report) -> None:
    if not STACK_NAME_PATTERN.match(stack):
        report.add(
            "ERROR",
            f"stack name {stack!r}: use 1-72 letters, digits and hyphens, starting with a letter "
            f"(the restore state machine is named <stack>-restore, at most 80 characters)",
        )
        return
    try:
        with aws_errors():
            found = clients.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        if (
            "does not exist" in str(exc.__cause__ or exc)
            or error_code(exc.__cause__ or exc) == "ValidationError"
        ):
            report.add("OK", f"no stack named {stack} yet: the deploy creates it")
            return
        raise
    status = found.get("StackStatus", "")
    if status == "ROLLBACK_COMPLETE":
        report.add(
            "ERROR", f"stack {stack} is ROLLBACK_COMPLETE: delete it (sam delete) before deploying again"
        )
    elif status.endswith("IN_PROGRESS"):
        report.add("ERROR", f"stack {stack} is {status}: wait until it finishes")
    else:
        report.add(
            "WARN", f"stack {stack} exists ({status}): the deploy updates it, it does not start afresh"
        )


def _check_names(names: tuple[str, ...], report: Report) -> None:
    joined = ",".join(names)
    if len(joined) > NAMES_MAX_LENGTH:
        report.add(
            "ERROR",
            f"ProtectedTables is {len(joined)} characters (max {NAMES_MAX_LENGTH}): name fewer tables and "
            f"tag the rest {paths.PROTECT_TAG_KEY}=<stack>",
        )
    for name in names:
        if not LOGICAL_NAME_PATTERN.match(name):
            report.add("ERROR", f"table name {name!r}: 3-200 characters of A-Z a-z 0-9 _ . -")
    if len(set(names)) != len(names):
        report.add("ERROR", "ProtectedTables names a table twice: remove the repeat")


def _tagged_tables(clients: AwsClients, stack: str, report: Report) -> list[str]:
    with aws_errors():
        pages = (
            clients.client("resourcegroupstaggingapi")
            .get_paginator("get_resources")
            .paginate(
                ResourceTypeFilters=["dynamodb:table"],
                TagFilters=[{"Key": paths.PROTECT_TAG_KEY, "Values": [stack]}],
            )
        )
        found = [
            r["ResourceARN"].partition(":table/")[2]
            for page in pages
            for r in page.get("ResourceTagMappingList", [])
            if paths.RESTORED_FROM_TAG_KEY not in {t["Key"] for t in r.get("Tags", [])}
        ]
    report.add("OK", f"{len(found)} table(s) tagged {paths.PROTECT_TAG_KEY}={stack} (protected by tag)")
    return found


def _check_table(  # noqa: PLR0917 - one call site, every argument named there
    clients: AwsClients,
    table: str,
    stack: str,
    named: bool,
    enforce_pitr: bool,
    pitr_days: int,
    kinesis_streams: tuple[str, ...],
    report: Report,
) -> None:
    ddb = clients.client("dynamodb")
    try:
        with aws_errors(table=table):
            description = ddb.describe_table(TableName=table)["Table"]
    except Exception as exc:
        if error_code(exc.__cause__ or exc) in {"ResourceNotFoundException", "TableNotFound"}:
            report.add(
                "ERROR",
                f"table {table} not found in this region: create it or remove it from ProtectedTables",
            )
            return
        raise
    arn = description["TableArn"]
    with aws_errors(table=table):
        tags = {
            t["Key"]: t["Value"]
            for page in ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn)
            for t in page.get("Tags", [])
        }
        pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    owner = tags.get(paths.PROTECT_TAG_KEY)
    if owner not in (None, stack):
        report.add(
            "ERROR",
            f"table {table} is protected by stack {owner!r} ({paths.PROTECT_TAG_KEY}): remove it there first",
        )
        return
    if named and owner is None:
        report.add("CHANGE", f"table {table}: the deploy tags it {paths.PROTECT_TAG_KEY}={stack}")
    pitr_on = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    if not pitr_on:
        if enforce_pitr:
            report.add(
                "CHANGE", f"table {table}: PITR is off; the first backup run turns it on ({pitr_days} days)"
            )
        else:
            report.add(
                "WARN", f"table {table}: PITR is off and EnforcePitr=false: no restore or export until on"
            )
    stream: dict[str, Any] = dict(description.get("StreamSpecification") or {})
    if not stream.get("StreamEnabled"):
        report.add("CHANGE", f"table {table}: no stream; the stream follower turns it on ({STREAM_VIEW})")
    elif stream.get("StreamViewType") != STREAM_VIEW:
        report.add(
            "ERROR",
            f"table {table} streams {stream.get('StreamViewType')}: the CDC archive needs {STREAM_VIEW}; "
            f"switch the stream view (disable and re-enable the stream) before deploying",
        )
    try:
        with aws_errors(table=table):
            destinations = ddb.describe_kinesis_streaming_destination(TableName=table).get(
                "KinesisDataStreamDestinations", []
            )
    except Exception:
        destinations = []
    for destination in destinations:
        if (
            destination.get("DestinationStatus") == "ACTIVE"
            and destination["StreamArn"] not in kinesis_streams
        ):
            report.add(
                "ERROR",
                f"table {table} streams to {destination['StreamArn']}: add it to "
                f"RestoreKinesisStreamArns or a restore cannot re-enable it",
            )


def _check_concurrency(clients: AwsClients, report: Report) -> None:
    try:
        with aws_errors():
            limits = clients.client("lambda").get_account_settings()["AccountLimit"]
    except Exception as exc:
        code = error_code(exc.__cause__ or exc)
        report.add("WARN", f"Lambda concurrency not readable ({code}): check 'Concurrent executions' quota")
        return
    total = int(limits.get("ConcurrentExecutions", 0))
    unreserved = int(limits.get("UnreservedConcurrentExecutions", total))
    if unreserved < CONCURRENCY_WANTED:
        report.add(
            "WARN",
            f"Lambda concurrency: {unreserved} unreserved of {total}; a restore runs up to 40 scan "
            f"segments at once and is throttled below {CONCURRENCY_WANTED} (slower RTO): request more "
            f"(Service Quotas, Lambda 'Concurrent executions')",
        )
    else:
        report.add("OK", f"Lambda concurrency: {unreserved} unreserved of {total} (the stack reserves none)")


def _check_dynamodb_quotas(clients: AwsClients, tables: int, report: Report) -> None:
    try:
        with aws_errors():
            pages = (
                clients.client("service-quotas")
                .get_paginator("list_service_quotas")
                .paginate(ServiceCode="dynamodb")
            )
            quotas = [q for page in pages for q in page.get("Quotas", [])]
    except Exception as exc:
        report.add(
            "WARN",
            f"DynamoDB quotas not readable ({error_code(exc.__cause__ or exc)}): check Service Quotas",
        )
        return
    for quota in quotas:
        name = str(quota.get("QuotaName", ""))
        lowered = name.lower()
        if not any(word in lowered for word in ("backup", "export", "restore")):
            continue
        value = quota.get("Value")
        if "concurrent" in lowered and value is not None and value < tables:
            report.add(
                "ERROR",
                f"DynamoDB quota {name!r} is {value:g} for {tables} tables: request at least {tables}",
            )
        else:
            report.add("OK", f"DynamoDB quota {name!r}: {value}")
