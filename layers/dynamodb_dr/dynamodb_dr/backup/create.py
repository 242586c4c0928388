"""One tick's backup of one table: claim the tick, then create the backup exactly once.

Every tick ends with a backup (created now, or found from an earlier attempt of the same tick) or
with an error that fails the run (and alarms): a claim held by another attempt is waited for while
its holder may still be running, and taken over once its lease has ended.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dynamodb_dr.backup.ledger import (
    CLAIMED,
    CREATED,
    DELETED,
    BackupLedger,
    BackupRecord,
    LostClaim,
    SentRequest,
)
from dynamodb_dr.core.aws import error_code
from dynamodb_dr.core.dynamo import BackupSummary, DynamoControl
from dynamodb_dr.core.errors import BackupClaimHeld, DynamoDbDrError, TransientAwsError
from dynamodb_dr.core.events import ScheduleTick

BACKUP_NAME_PREFIX = "ddbdr-"
CREATE_ATTEMPTS = 4
# Codes with which AWS refuses a CreateBackup: no backup was made, the name is dropped.
REFUSED_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "AccessDeniedException",
        "ValidationException",
        "TableNotFoundException",
        "ResourceNotFoundException",
        "TableInUseException",
        "BackupInUseException",
        "ContinuousBackupsUnavailableException",
    }
)
# A backup found under a sent request's name must have been created this close to the request.
ADOPTION_WINDOW = timedelta(minutes=5)
# Margin on a holder's lease for clock differences between invocations.
LEASE_MARGIN = timedelta(seconds=10)
POLL_SECONDS = 1.0
RESERVE = timedelta(seconds=20)  # time kept back to record the outcome before our own deadline


def backup_name(logical_name: str, tick: ScheduleTick, nonce: str) -> str:
    """Sortable and unique per request: ddbdr-<table>-<YYYYMMDDTHHMMSSZ>-<nonce>."""
    return f"{BACKUP_NAME_PREFIX}{logical_name}-{tick.tick_id}-{nonce}"


@dataclass
class Clock:
    """Time as the backup run sees it: now, this invocation's deadline, sleeping."""

    now: Callable[[], datetime]
    deadline: datetime
    sleep: Callable[[float], None]


@dataclass(frozen=True)
class TickBackup:
    status: str  # created | exists
    name: str
    arn: str


def take_tick_backup(
    logical: str, table: str, tick: ScheduleTick, *, dynamo: DynamoControl, ledger: BackupLedger, clock: Clock
) -> TickBackup:
    claim_id = secrets.token_hex(8)
    while True:
        now = clock.now()
        lease = clock.deadline + LEASE_MARGIN
        claim = ledger.claim(
            logical, tick.tick_id, claim_id=claim_id, physical_table=table, now=now, lease_until=lease
        )
        if claim.won:
            assert claim.record
            return _create_once(claim.record, claim_id, tick, dynamo=dynamo, ledger=ledger, clock=clock)
        existing = claim.existing
        if existing and existing.status in {CREATED, DELETED} and existing.backup_arn:
            return TickBackup("exists", existing.backup_name, existing.backup_arn)
        if existing and existing.status == CLAIMED:
            _wait_for_holder(existing, clock)
        # FAILED, vanished, or the holder's lease ended: claim again.


def _wait_for_holder(existing: BackupRecord, clock: Clock) -> None:
    """Sleep a little while another attempt holds the claim; refuse if it may outlive us."""
    now = clock.now()
    lease_end = existing.lease_until or (existing.claimed_at + timedelta(minutes=15))
    if lease_end > clock.deadline - RESERVE:
        raise BackupClaimHeld(
            f"another attempt holds the backup claim of tick {existing.tick} until {lease_end.isoformat()}, "
            "longer than this invocation may run: the tick has no backup yet (a later attempt takes over)",
            table=existing.logical_name,
        )
    clock.sleep(max(0.0, min(POLL_SECONDS, (lease_end - now).total_seconds())))


def _create_once(
    record: BackupRecord,
    claim_id: str,
    tick: ScheduleTick,
    *,
    dynamo: DynamoControl,
    ledger: BackupLedger,
    clock: Clock,
) -> TickBackup:
    logical, table = record.logical_name, record.physical_table
    try:
        found = _sent_backup(dynamo, record.sent)  # an earlier attempt's request whose answer was lost
        if found:
            ledger.record_created(logical, tick.tick_id, found.name, found.arn)
            return TickBackup("exists", found.name, found.arn)
        created, adopted = _create(logical, table, tick, claim_id, dynamo=dynamo, ledger=ledger, clock=clock)
    except LostClaim:
        raise
    except DynamoDbDrError as exc:
        ledger.record_failed(logical, tick.tick_id, claim_id, f"{exc.code}: {exc}")
        raise
    ledger.record_created(logical, tick.tick_id, created.name, created.arn)
    return TickBackup("exists" if adopted else "created", created.name, created.arn)


def _create(
    logical: str,
    table: str,
    tick: ScheduleTick,
    claim_id: str,
    *,
    dynamo: DynamoControl,
    ledger: BackupLedger,
    clock: Clock,
) -> tuple[BackupSummary, bool]:
    """CreateBackup is not idempotent: it is sent without SDK retries, each request under a new
    name recorded beforehand, and after an unclear failure (a 5xx or timeout: the response may
    have been lost) that exact name is looked up before anything is sent again.
    Returns the backup and whether it was found (True) rather than returned by CreateBackup."""
    for attempt in range(CREATE_ATTEMPTS):
        request = SentRequest(backup_name(logical, tick, secrets.token_hex(4)), table, clock.now())
        ledger.note_sent(logical, tick.tick_id, claim_id, request)
        try:
            return dynamo.create_backup(table, request.name), False
        except DynamoDbDrError as exc:
            if error_code(exc.__cause__ or exc) in REFUSED_CODES:
                ledger.forget_sent(logical, tick.tick_id, claim_id, request.name)
            elif isinstance(exc, TransientAwsError):
                found = _sent_backup(dynamo, (request,))
                if found:
                    return found, True
            if not isinstance(exc, TransientAwsError) or attempt == CREATE_ATTEMPTS - 1:
                raise
            clock.sleep(min(2.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


def _sent_backup(dynamo: DynamoControl, sent: tuple[SentRequest, ...]) -> BackupSummary | None:
    """The backup one of these requests made: its exact (nonce-bearing) name, created near the
    time it was sent. Nobody else knows those names, so it cannot be a person's backup."""
    for table in sorted({s.table for s in sent}):
        listed = dynamo.list_user_backups(table)
        for request in (s for s in sent if s.table == table):
            for backup in listed:
                if backup.name == request.name and abs(backup.created - request.sent_at) <= ADOPTION_WINDOW:
                    return backup
    return None
