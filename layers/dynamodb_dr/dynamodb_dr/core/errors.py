"""Named errors. Step Functions `Catch` blocks match on these class names."""

from __future__ import annotations


class DynamoDbDrError(Exception):
    """Base class of every error this tool raises on purpose."""

    code = "DynamoDbDrError"
    # True when raised before the operation changed anything (the CLI then exits 2, bad input).
    changed_nothing = False

    def __init__(self, message: str, *, table: str | None = None) -> None:
        super().__init__(message)
        self.table = table


class ConfigurationError(DynamoDbDrError):
    """The deployment's settings (environment) are missing or invalid."""

    code = "ConfigurationError"


class PolicyError(ConfigurationError):
    """The per-table policy document is malformed or names an unprotected table."""

    code = "PolicyError"


class InvalidInput(DynamoDbDrError):
    """An event or request failed validation; nothing was changed."""

    code = "InvalidInput"
    changed_nothing = True


class TableNotProtected(InvalidInput):
    """A table was named that is not in the protected set."""

    code = "TableNotProtected"


class TableNotFound(DynamoDbDrError):
    """The table does not exist (deleted, renamed, wrong region)."""

    code = "TableNotFound"


class AccessDenied(DynamoDbDrError):
    """The function's role lacks a permission it needs."""

    code = "AccessDenied"


class LimitExceeded(DynamoDbDrError):
    """An AWS service limit (concurrent backups, exports, restores) was hit."""

    code = "LimitExceeded"


class TransientAwsError(DynamoDbDrError):
    """Throttling or a server-side error persisted through the client's retries."""

    code = "TransientAwsError"


class AwsCallFailed(DynamoDbDrError):
    """Any other AWS error, kept with its AWS error code."""

    code = "AwsCallFailed"


class BackupRunFailed(DynamoDbDrError):
    """At least one table failed during a scheduled backup run (the others were processed)."""

    code = "BackupRunFailed"


class ExportRunFailed(DynamoDbDrError):
    """At least one table failed during a scheduled S3 export run (the others were processed)."""

    code = "ExportRunFailed"


class PitrUnavailable(DynamoDbDrError):
    """Point-in-time recovery is off, so the table cannot be exported."""

    code = "PitrUnavailable"


class ExportChainError(DynamoDbDrError):
    """The recorded export chain is malformed or cannot cover the requested time."""

    code = "ExportChainError"


class RebuildFailed(DynamoDbDrError):
    """Rebuilding a table from S3 exports failed (the partial table was removed unless kept)."""

    code = "RebuildFailed"


class MalformedStreamRecord(InvalidInput):
    """A stream record lacks what the CDC archive needs (sequence number, keys, event name)."""

    code = "MalformedStreamRecord"


class ArchiveWriteFailed(DynamoDbDrError):
    """Writing a CDC archive object to S3 failed; its records are reported as batch failures."""

    code = "ArchiveWriteFailed"


class ArchiveCorrupt(DynamoDbDrError):
    """A CDC archive object could not be read back (bad gzip or line)."""

    code = "ArchiveCorrupt"


class ReplayRefused(InvalidInput):
    """Replay would write into a protected table's live table without force."""

    code = "ReplayRefused"


class ReplayIncomplete(DynamoDbDrError):
    """Some replayed writes were still unprocessed after every retry."""

    code = "ReplayIncomplete"


class RestoreRequestInvalid(InvalidInput):
    """A restore request failed validation (PITR off, time outside window, target taken...)."""

    code = "RestoreRequestInvalid"


class RestoreTimedOut(DynamoDbDrError):
    """Restored tables did not become ACTIVE within the time budget derived from the RTO."""

    code = "RestoreTimedOut"


class SettingsDiffRemaining(DynamoDbDrError):
    """After re-applying settings a restored table still differs from its source."""

    code = "SettingsDiffRemaining"


class RestoreValidationFailed(DynamoDbDrError):
    """A restored table failed validation (indexes, item count, checksum): no cutover."""

    code = "RestoreValidationFailed"


class CutoverFailed(DynamoDbDrError):
    """Switching the live-table pointers failed; every pointer was put back as it was."""

    code = "CutoverFailed"


class CutoverConflict(DynamoDbDrError):
    """A live-table pointer changed since it was read (another cutover?): nothing switched."""

    code = "CutoverConflict"


class StreamViewMismatch(DynamoDbDrError):
    """A protected table streams a view other than NEW_AND_OLD_IMAGES; the archive can't use it."""

    code = "StreamViewMismatch"


class StreamFollowFailed(DynamoDbDrError):
    """The stream follower could not put the CDC archiver on some protected table's stream."""

    code = "StreamFollowFailed"


class RehearsalRunFailed(DynamoDbDrError):
    """A restore rehearsal could not be started or followed up for some table (others went on)."""

    code = "RehearsalRunFailed"


class ExportManifestMismatch(RebuildFailed):
    """An export's data does not match its manifest (file missing or extra, MD5, item count)."""

    code = "ExportManifestMismatch"


class CdcCoverageIncomplete(RebuildFailed):
    """The CDC archive does not provably cover the window up to the requested time."""

    code = "CdcCoverageIncomplete"


class BackupClaimHeld(DynamoDbDrError):
    """Another attempt of the same schedule tick holds its backup claim longer than this
    invocation may run: the tick has no backup yet (a later attempt takes the claim over)."""

    code = "BackupClaimHeld"


class TickImplausible(InvalidInput):
    """A schedule tick's time is implausible (in the future): nothing is done for it."""

    code = "TickImplausible"


class StreamReadersExceeded(DynamoDbDrError):
    """A table's stream already has the two readers AWS advises per shard: adding the archiver
    would throttle them all, so it is not added (and the run alarms)."""

    code = "StreamReadersExceeded"
