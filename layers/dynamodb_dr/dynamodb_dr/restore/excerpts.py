"""Bounded quotes of input values in error messages.

An operator's request may hold huge values; an error that echoes them whole can exceed Step
Functions' 256 KB state or the 32,768-character cause of a failed execution, and then the failure
path itself breaks. Errors quote bounded excerpts instead.
"""

from __future__ import annotations

from dynamodb_dr.core.errors import DynamoDbDrError, InvalidInput

MESSAGE_LIMIT = 2_000


def excerpt(value: object, limit: int = 80) -> str:
    """`value` (repr of non-strings) cut to `limit` characters, saying how much was left out."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"


def bounded(exc: Exception, limit: int = MESSAGE_LIMIT) -> Exception:
    """The same error with its message cut to `limit` characters (a named error stays named)."""
    text = str(exc)
    if len(text) <= limit:
        return exc
    if isinstance(exc, DynamoDbDrError):
        exc.args = (excerpt(text, limit),)
        return exc
    shorter = InvalidInput(f"{type(exc).__name__}: {excerpt(text, limit)}")
    shorter.__cause__ = None
    return shorter
