"""Rebuild a NEW table as of a chosen time from S3: the newest FULL export at or before it
(DynamoDB import-from-S3 where it fits), the incremental exports after it (batch writes), then
optionally the CDC archive up to the exact time. Needs only the bucket: the source table, its
PITR and the state table may all be gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, ConfigDict, Field

from dynamodb_dr.cdc.archive import ArchiveStore, hours_between, whole_second
from dynamodb_dr.cdc.erased import newest_erased
from dynamodb_dr.cdc.erasure import Erasure, ErasureStore, apply_erasures
from dynamodb_dr.cdc.replay import BatchWriter, ReplayRequest, replay
from dynamodb_dr.cdc.timeline import read_timeline
from dynamodb_dr.core.aws import aws_errors, error_code, translate
from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN, TABLE_NAME_PATTERN
from dynamodb_dr.core.dynamo_json import item_from_json
from dynamodb_dr.core.errors import (
    CdcCoverageIncomplete,
    DynamoDbDrError,
    InvalidInput,
    RebuildFailed,
    ReplayIncomplete,
)
from dynamodb_dr.core.model import DomainModel
from dynamodb_dr.exports.chain import ExportRecord
from dynamodb_dr.exports.manifest import Manifest
from dynamodb_dr.exports.reader import ExportStore, RebuildPlan, plan_rebuild

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import (
        TableCreationParametersTypeDef,
        WaiterConfigTypeDef,
        WriteRequestTypeDef,
    )
    from types_boto3_s3 import S3Client

BATCH = 25
IMPORT_WAIT_SECONDS = 48 * 3600  # import-from-S3 of a very large table takes hours
ACTIVE_WAIT_SECONDS = 600
Progress = Callable[[str], None]


class RebuildRequest(DomainModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(pattern=LOGICAL_NAME_PATTERN.pattern)  # logical name the exports belong to
    target: str = Field(pattern=TABLE_NAME_PATTERN.pattern)
    at: AwareDatetime
    bucket: str = Field(min_length=3)
    prefix: str = "exports"
    use_import: bool = True
    cdc: bool = True
    keep_partial: bool = False
    accept_partial: bool = False  # accept a table short of `at` when the archive does not reach it
    poll_seconds: float = Field(default=5.0, ge=0)


@dataclass
class RebuildReport:
    table: str
    target: str
    requested: str
    reached: str = ""  # the exact point in time the table now reflects
    exports_reached: str = ""  # where the export chain alone got to (CDC then goes on to `reached`)
    full_export: str = ""
    full_method: str = ""  # import | batch
    incrementals: list[str] = field(default_factory=list)
    items_from_full: int = 0
    puts: int = 0
    deletes: int = 0
    cdc: str = "not used"
    erased: int = 0  # keys on the erasure list deleted (their export or archive copy predates it)
    partial: bool = False  # accepted short of the requested time (--accept-partial)
    items: int = 0
    seconds: float = 0.0


def rebuild_from_s3(
    request: RebuildRequest, dynamodb: DynamoDBClient, s3: S3Client, *, progress: Progress = print
) -> RebuildReport:
    started = time.perf_counter()
    store = ExportStore(s3, request.bucket, request.prefix)
    report = RebuildReport(request.table, request.target, request.at.isoformat())
    try:
        chain = store.chain(request.table)
        timeline = read_timeline(ArchiveStore(s3, request.bucket), request.table)  # live table when
        plan = plan_rebuild(chain, request.at, timeline)
        progress(
            f"plan: FULL {plan.full.sk}, then {len(plan.incrementals)} incremental export(s) "
            f"up to {plan.reached.isoformat()}"
        )
        if _table_exists(dynamodb, request.target):
            raise InvalidInput(
                f"target table {request.target} already exists: choose a new name", table=request.target
            )
    except DynamoDbDrError as exc:
        exc.changed_nothing = True  # refused while planning: no table was created
        raise
    ctx = _Context(request, store, dynamodb, s3, report, progress)
    try:
        _run(ctx, plan)
    except BaseException as exc:
        # Only a table this rebuild created is removed: a same-named table someone else created
        # meanwhile (our create then fails) is never touched.
        if ctx.created and not request.keep_partial and _table_exists(dynamodb, request.target):
            progress(f"rebuild failed: deleting the partial table {request.target} (--keep-partial keeps it)")
            _delete_table(dynamodb, request.target)
        if isinstance(exc, DynamoDbDrError):
            exc.changed_nothing = not ctx.created
            raise
        raise RebuildFailed(f"rebuild of {request.target} failed: {exc}", table=request.table) from exc
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class _Context:
    request: RebuildRequest
    store: ExportStore
    dynamodb: DynamoDBClient
    s3: S3Client
    report: RebuildReport
    progress: Progress
    created: bool = False  # the target table exists because this rebuild created it


def _run(ctx: _Context, plan: RebuildPlan) -> None:
    request, report, dynamodb = ctx.request, ctx.report, ctx.dynamodb
    full = plan.full
    schema = full.table_schema
    if not schema or "KeySchema" not in schema or "AttributeDefinitions" not in schema:
        raise RebuildFailed(f"FULL export {full.sk} has no table schema recorded", table=request.table)
    report.full_export = full.sk
    manifest = ctx.store.manifest(full)
    if request.use_import and not schema.get("LocalSecondaryIndexes") and manifest.files:
        report.full_method = "import"
        ctx.store.check_for_import(manifest)  # before any table exists
        report.items_from_full = _import(ctx, schema, manifest.keys)
        manifest.check_total(report.items_from_full, "import-from-S3 imported")
    else:  # import-from-S3 cannot create local secondary indexes
        report.full_method = "batch"
        _create(ctx, schema)
        report.items_from_full, _ = _apply(dynamodb, request.target, _full_ops(ctx.store, manifest))
        manifest.check_total(report.items_from_full, "its files hold")
    ctx.progress(f"FULL export {full.sk}: {report.items_from_full} items ({report.full_method})")
    for record in plan.incrementals:
        puts, deletes = _apply(dynamodb, request.target, _incremental_ops(ctx.store, record))
        report.puts, report.deletes = report.puts + puts, report.deletes + deletes
        report.incrementals.append(record.sk)
        assert record.window_from
        ctx.progress(
            f"INCREMENTAL {record.window_from.isoformat()} .. {record.window_to.isoformat()}: "
            f"{puts} puts, {deletes} deletes"
        )
    report.exports_reached = plan.reached.isoformat()
    # The exports' data reflects plan.reached: keys erased after that go, then the CDC replay
    # (which turns an erased key's earlier changes into deletes) brings it up to `at`.
    erasures = ErasureStore(ctx.s3, request.bucket).entries(request.table)
    report.erased = apply_erasures(dynamodb, request.target, erasures, as_of=plan.reached).deleted
    reached = _cdc(ctx, plan.reached, erasures) if plan.reached < request.at else plan.reached
    report.reached = reached.isoformat()
    report.items = _count(dynamodb, request.target)


def _import(ctx: _Context, schema: dict[str, Any], data_keys: list[str]) -> int:
    request, dynamodb = ctx.request, ctx.dynamodb
    parameters: TableCreationParametersTypeDef = {
        "TableName": request.target,
        "KeySchema": schema["KeySchema"],
        "AttributeDefinitions": schema["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if schema.get("GlobalSecondaryIndexes"):
        parameters["GlobalSecondaryIndexes"] = schema["GlobalSecondaryIndexes"]
    data_prefix = data_keys[0].rsplit("/", 1)[0] + "/"
    with aws_errors(table=request.target):
        description = dynamodb.import_table(
            S3BucketSource={"S3Bucket": request.bucket, "S3KeyPrefix": data_prefix},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters=parameters,
        )["ImportTableDescription"]
    ctx.created = True
    arn = description["ImportArn"]
    ctx.progress(f"import-from-S3 started: {arn}")
    ended = _wait(
        lambda config: dynamodb.get_waiter("import_completed").wait(ImportArn=arn, WaiterConfig=config),
        _waiting(request.poll_seconds, IMPORT_WAIT_SECONDS),
        request.target,
    )
    if ended is not None:
        description = ended.get("ImportTableDescription", {})
        raise RebuildFailed(
            f"import {arn} ended {description.get('ImportStatus', 'unfinished')}: "
            f"{description.get('FailureCode')}: {description.get('FailureMessage')}",
            table=request.target,
        )
    with aws_errors(table=request.target):
        description = dynamodb.describe_import(ImportArn=arn)["ImportTableDescription"]
    _wait_active(dynamodb, request.target, request.poll_seconds)
    if description.get("ErrorCount"):
        raise RebuildFailed(
            f"import {arn} skipped {description['ErrorCount']} item(s) it could not read",
            table=request.target,
        )
    return int(description.get("ImportedItemCount", 0))


def _create(ctx: _Context, schema: dict[str, Any]) -> None:
    target = ctx.request.target
    with aws_errors(table=target):
        ctx.dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", **schema)
    ctx.created = True
    _wait_active(ctx.dynamodb, target, ctx.request.poll_seconds)


def _full_ops(store: ExportStore, manifest: Manifest) -> Iterable[WriteRequestTypeDef]:
    for file in manifest.files:
        for line in store.lines(file, manifest):
            yield {"PutRequest": {"Item": item_from_json(line["Item"])}}


def _incremental_ops(store: ExportStore, record: ExportRecord) -> Iterable[WriteRequestTypeDef]:
    manifest, seen = store.manifest(record), 0
    for file in manifest.files:
        for line in store.lines(file, manifest):
            seen += 1
            if "NewImage" in line:
                yield {"PutRequest": {"Item": item_from_json(line["NewImage"])}}
            else:
                yield {"DeleteRequest": {"Key": item_from_json(line["Keys"])}}
    manifest.check_total(seen, "its files hold")


def _apply(
    dynamodb: DynamoDBClient,
    table: str,
    ops: Iterable[WriteRequestTypeDef],
    attempts: int = 10,
    workers: int = 8,
) -> tuple[int, int]:
    """Batch writes (25 a call, `workers` calls in flight), unprocessed items retried with backoff.

    Keys are unique within one export, so its batches are independent and may land in any order;
    the call returns only when every batch of this export is written. Returns (puts, deletes).
    """
    writer = BatchWriter(dynamodb, table, max_attempts=attempts)
    puts = deletes = 0
    in_flight: set[Future[None]] = set()
    batch: list[WriteRequestTypeDef] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for op in ops:
                puts, deletes = (puts + 1, deletes) if "PutRequest" in op else (puts, deletes + 1)
                batch.append(op)
                if len(batch) == BATCH:
                    in_flight.add(pool.submit(writer.write, batch))
                    batch = []
                    if len(in_flight) >= 2 * workers:  # bounded memory for large exports
                        finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in finished:
                            future.result()
            if batch:
                in_flight.add(pool.submit(writer.write, batch))
            for future in in_flight:
                future.result()
        except ReplayIncomplete as exc:
            raise RebuildFailed(str(exc), table=table) from exc
    return puts, deletes


def _cdc(ctx: _Context, reached: datetime, erasures: list[Erasure]) -> datetime:
    """Bring the table from the last export to the requested time with the CDC archive, if available."""
    request, report = ctx.request, ctx.report
    if not request.cdc:
        report.cdc = "disabled"
        return reached
    replay_request = ReplayRequest(table=request.table, start=reached, end=request.at, target=request.target)
    store = ArchiveStore(ctx.s3, request.bucket)
    result = replay(replay_request, store, ctx.dynamodb, {}, erasures=erasures)
    report.erased += result.erased
    report.cdc = f"{result.changes_in_window} changes, {result.puts} puts, {result.deletes} deletes"
    report.puts, report.deletes = report.puts + result.puts, report.deletes + result.deletes
    ctx.progress(f"CDC archive {reached.isoformat()} .. {request.at.isoformat()}: {report.cdc}")
    # A shard is archived in order, so an archived change stamped s proves its stream reached s
    # (a change `dynamodb-dr erase` removed was archived too: its record says so); nothing proves a
    # quiet window (no archived change) was complete rather than not archived.
    first = whole_second(reached)
    hours = hours_between(first, request.at)
    erased = newest_erased(store, request.table, hours, start=first, end=request.at)
    covered = max(reached, result.newest_change or reached, erased or reached)
    if covered >= whole_second(request.at):
        return request.at
    report.cdc += f"; the archive covers only up to {covered.isoformat()}"
    if not request.accept_partial:
        raise CdcCoverageIncomplete(
            f"the CDC archive provably covers {request.table} only up to {covered.isoformat()}, not "
            f"{request.at.isoformat()}: rebuild with --at {covered.isoformat()}, or pass --accept-partial",
            table=request.table,
        )
    report.partial = True
    return covered


def _table_exists(dynamodb: DynamoDBClient, table: str) -> bool:
    try:
        with aws_errors(table=table):
            dynamodb.describe_table(TableName=table)
    except DynamoDbDrError as exc:
        if error_code(exc.__cause__ or exc) in ("ResourceNotFoundException", "TableNotFoundException"):
            return False
        raise
    return True


def _waiting(poll_seconds: float, budget_seconds: float) -> WaiterConfigTypeDef:
    delay = max(poll_seconds, 0.001)
    return {"Delay": delay, "MaxAttempts": max(1, int(budget_seconds / delay))}  # type: ignore[typeddict-item]


def _wait(wait: Callable[[WaiterConfigTypeDef], None], config: WaiterConfigTypeDef, table: str) -> Any:
    """Run a boto3 waiter; None when it succeeded, else the last response (a failure state or the
    time budget ran out). An AWS error while waiting is raised as the named error it maps to."""
    from botocore.exceptions import ClientError, WaiterError

    try:
        wait(config)
    except WaiterError as exc:
        last = exc.last_response or {}
        if "Error" in last:
            raise translate(ClientError(last, "Wait"), table=table) from None  # type: ignore[arg-type]
        return last
    return None


def _wait_active(dynamodb: DynamoDBClient, table: str, poll_seconds: float) -> None:
    ended = _wait(
        lambda config: dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig=config),
        _waiting(min(poll_seconds, 1.0), ACTIVE_WAIT_SECONDS),
        table,
    )
    if ended is not None:
        raise RebuildFailed(f"table {table} did not become ACTIVE", table=table)


def _delete_table(dynamodb: DynamoDBClient, table: str) -> None:
    with aws_errors(table=table):
        dynamodb.delete_table(TableName=table)


def _count(dynamodb: DynamoDBClient, table: str) -> int:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    with aws_errors(table=table):
        return sum(int(page["Count"]) for page in pages)
