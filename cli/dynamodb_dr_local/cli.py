"""`dynamodb-dr`: the operator CLI. Each sub-command lives in `commands/<name>.py`.

Every failure is one line on stderr (`dynamodb-dr: <ErrorName>: <message>; <hint>`), never a
traceback (DYNAMODB_DR_DEBUG=1 re-raises for one); exit codes are in `errors.py`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from dynamodb_dr.core.errors import DynamoDbDrError
from dynamodb_dr_local.commands import COMMAND_MODULES
from dynamodb_dr_local.errors import EXIT_INTERRUPTED, CliError, OperationFailed
from dynamodb_dr_local.stack_lookup import STACK_ENV

__all__ = ["CliError", "build_parser", "main"]

EPILOG = f"""\
stack: commands that talk to a deployed stack take --stack, else ${STACK_ENV}, else stack_name of
--config-env in the nearest samconfig.toml; --endpoint-url (or $AWS_ENDPOINT_URL) for an emulator.
exit codes: 0 ok, 1 restore/drill failed or objective missed, 2 bad input or refused (nothing
changed), 130 interrupted. Every command takes --json for scripts; progress goes to stderr."""


def version() -> str:
    try:
        return metadata.version("dynamodb-dr")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynamodb-dr",
        description="Disaster recovery for DynamoDB: drills, restores, replay and posture.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dynamodb-dr {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dynamodb_dr_local.commands.{name}").register(subparsers)
    for sub in _all_subparsers(parser):
        if not any("--json" in action.option_strings for action in sub._actions):
            sub.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    return parser


def _all_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.append(sub)
                found.extend(_all_subparsers(sub))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("dynamodb-dr: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CliError as exc:
        print(exc.line(), file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("DYNAMODB_DR_DEBUG"):
            raise
        error = describe_failure(exc)
        print(error.line(), file=sys.stderr)
        return error.exit_code


def describe_failure(exc: BaseException) -> CliError:
    """Any exception as the one line (and exit code) an operator sees."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, DynamoDbDrError):
        cause = exc.__cause__
        if isinstance(cause, BotoCoreError) or (
            isinstance(cause, ClientError) and _code(cause) in CREDENTIAL_CODES
        ):
            return describe_failure(cause)  # credentials, region, endpoint: say so
        if exc.changed_nothing:  # refused before anything changed: bad input (2)
            return CliError(str(exc), name=exc.code)
        return OperationFailed(str(exc), name=exc.code)  # failed after it started (1)
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, BotoCoreError):
        return _botocore_error(exc)
    return OperationFailed(
        f"{type(exc).__name__}: {exc}",
        hint="this is a bug; re-run with DYNAMODB_DR_DEBUG=1 for the traceback and report it",
        name="internal error",
    )


def _botocore_error(exc: Exception) -> CliError:
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials found",
            hint="set AWS_PROFILE (or run `aws sso login`), or for the emulator export the lines "
            "`dynamodb-dr local` prints",
            name="NoCredentials",
        )
    if isinstance(exc, NoRegionError):
        hint = "pass --region or set AWS_DEFAULT_REGION"
        return CliError("no AWS region configured", hint=hint, name="NoRegion")
    if isinstance(exc, EndpointConnectionError):
        return CliError(
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}",
            hint="is `dynamodb-dr local` running? check --endpoint-url / AWS_ENDPOINT_URL",
            name="EndpointUnreachable",
        )
    return OperationFailed(str(exc), name=type(exc).__name__)


CREDENTIAL_CODES = {
    "UnrecognizedClientException": "the credentials are not valid in this account/region",
    "InvalidClientTokenId": "the access key is not valid",
    "ExpiredToken": "the session has expired",
    "ExpiredTokenException": "the session has expired",
    "InvalidSignatureException": "the request signature was rejected (secret key or clock wrong)",
}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code") or type(exc).__name__)


def _client_error(exc: Exception) -> CliError:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    code = _code(exc)
    message = str(error.get("Message") or exc).splitlines()[0][:300]
    operation = getattr(exc, "operation_name", "")
    where = f" ({operation})" if operation else ""
    if code in CREDENTIAL_CODES:
        hint = "refresh the credentials (AWS_PROFILE, aws sso login)"
        return CliError(f"{CREDENTIAL_CODES[code]}{where}", hint=hint, name=code)
    if code in {"AccessDenied", "AccessDeniedException"}:
        return OperationFailed(
            f"{message}{where}", hint="your role lacks this permission (see docs/security.md)", name=code
        )
    return OperationFailed(f"{message}{where}", name=code)


if __name__ == "__main__":
    sys.exit(main())
