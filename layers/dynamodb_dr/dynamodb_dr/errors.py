"""Named errors. Step Functions `Catch` blocks match on these class names."""

from __future__ import annotations


class DynamoDbDrError(Exception):
    """Base class of every error this tool raises on purpose."""

    code = "DynamoDbDrError"

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
