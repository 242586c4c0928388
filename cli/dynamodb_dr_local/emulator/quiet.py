"""What moto does not implement answers like a service error, and the served emulator's log stays
quiet.

moto raises NotImplementedError for operations it lacks (DescribeContributorInsights,
DescribeKinesisStreamingDestination, ...). Served over HTTP that became an HTML 500 page,
retried five times by botocore, logged as a traceback each time, and copied into restore reports.
Here it is an error response in the service's own protocol (JSON or XML), status 501 (not
retried), code `NotImplementedByEmulator`, so callers treat it as the "cannot read this setting"
case they already handle. Server log records with tracebacks become one line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

ERROR_CODE = "NotImplementedByEmulator"
STATUS = 501


def error_response(handler: Any, exc: NotImplementedError) -> tuple[int, dict[str, str], str]:
    operation = str(getattr(handler, "_get_action", lambda: "")() or "this operation")
    message = f"{operation} is not implemented by the local emulator (moto): {exc}"
    headers = {str(k).lower(): str(v) for k, v in dict(getattr(handler, "headers", {}) or {}).items()}
    if "x-amz-target" in headers or "json" in headers.get("content-type", ""):
        body = json.dumps({"__type": ERROR_CODE, "message": message})
        return STATUS, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": ERROR_CODE}, body
    xml = (
        f"<ErrorResponse><Error><Type>Receiver</Type><Code>{ERROR_CODE}</Code><Message>{message}</Message>"
        "</Error><RequestId>emulator</RequestId></ErrorResponse>"
    )
    return STATUS, {"Content-Type": "text/xml"}, xml


def install_unimplemented_as_errors(set_attr: Any) -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(handler: Any) -> Any:
        try:
            return original(handler)
        except NotImplementedError as exc:
            return error_response(handler, exc)

    set_attr(BaseResponse, "call_action", call_action)


class OneLine(logging.Filter):
    """A record with a traceback becomes its message and the exception's last line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            last = str(exc).splitlines()[0] if str(exc) else ""
            record.msg = f"{record.getMessage()} {type(exc).__name__}: {last}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_server_logs() -> None:
    """moto's own loggers (the Step Functions engine logs every failed state with its internals)
    are for moto's developers: off. The HTTP server logs errors only, one line each."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.ERROR)
    if not any(isinstance(f, OneLine) for f in werkzeug.filters):
        werkzeug.addFilter(OneLine())
