"""Fan-out of a scheduled run over a large fleet: one invocation per chunk of tables.

One invocation handles a few dozen tables well inside its timeout; a fleet of hundreds would not
fit. A run whose event names no tables and whose fleet is larger than one chunk invokes its own
function asynchronously once per chunk (the same event, `tables` set) and returns; each chunk is
then an ordinary run over its tables (same tick, so per-table idempotency holds across retries).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import AwsClients, aws_errors
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import ConfigurationError, InvalidInput, TableNotProtected

if TYPE_CHECKING:
    from types_boto3_lambda import LambdaClient

CHUNK_SIZE = 50
CHUNK_SIZE_VARIABLE = "FLEET_CHUNK_SIZE"


def chunk_size(environ: Mapping[str, str]) -> int:
    raw = environ.get(CHUNK_SIZE_VARIABLE, str(CHUNK_SIZE))
    try:
        size = int(raw)
    except ValueError:
        raise ConfigurationError(f"{CHUNK_SIZE_VARIABLE}={raw!r} is not a number") from None
    if not 1 <= size <= 100:
        raise ConfigurationError(
            f"{CHUNK_SIZE_VARIABLE}={size} must be 1-100 (a tick names at most 100 tables)"
        )
    return size


def chunks(tables: Sequence[str], size: int) -> list[list[str]]:
    return [list(tables[start : start + size]) for start in range(0, len(tables), size)]


def fan_out(
    event: Mapping[str, Any],
    tables: Sequence[str],
    lambda_client: LambdaClient,
    function_name: str,
    size: int = CHUNK_SIZE,
) -> list[list[str]] | None:
    """Invoke `function_name` once per chunk when the event names no tables and the fleet is
    larger than one chunk; returns the chunks (None: run here). A failed invoke raises after the
    chunks already sent: their ticks are idempotent, so the scheduler's retry repeats nothing."""
    if event.get("tables") or len(tables) <= size:
        return None
    parts = chunks(tables, size)
    for part in parts:
        with aws_errors():
            lambda_client.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps({**event, "tables": part}).encode(),
            )
    return parts


def fan_out_run(
    event: Mapping[str, Any], settings: Settings, clients: AwsClients, function_name: str
) -> dict[str, Any] | None:
    """A handler's one-line fan-out: the response when the run was split into chunk runs."""
    size = chunk_size(os.environ)
    parts = fan_out(event, settings.protected_tables, clients.client("lambda"), function_name, size)
    return None if parts is None else {"fanned_out": len(parts), "chunks": parts}


def only_tables(settings: Settings, event: Mapping[str, Any]) -> Settings:
    """The settings limited to the chunk an event names (every name must be protected)."""
    named = event.get("tables")
    if not named:
        return settings
    if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
        raise InvalidInput("tables must be a list of table names")
    unknown = sorted(set(named) - set(settings.protected_tables))
    if unknown:
        raise TableNotProtected(f"tables not protected by this stack: {unknown}")
    return settings.model_copy(update={"protected_tables": tuple(named)})
