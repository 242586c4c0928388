"""The wire side of fault injection (emulator/faults.py): botocore and moto hooks, synthetic errors.

While a FaultInjector is active, `botocore.client.BaseClient._make_api_call` is wrapped so that
every client in the process registers `before_send` *first* on its event system and records the
call's operation and parameters. That hook runs once per HTTP attempt, inside botocore's retry
loop, ahead of moto's own stub: a fault returns a synthetic error response (or raises a botocore
timeout), so botocore parses and retries it exactly as it would a real one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore import xform_name

THROTTLING = "ThrottlingException"
PROVISIONED_THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
INTERNAL_SERVER_ERROR = "InternalServerError"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
READ_TIMEOUT = "ReadTimeout"
CONNECT_TIMEOUT = "ConnectTimeout"
ACCESS_DENIED = "AccessDenied"

STATUS = {
    THROTTLING: 400,
    PROVISIONED_THROUGHPUT_EXCEEDED: 400,
    INTERNAL_SERVER_ERROR: 500,
    SERVICE_UNAVAILABLE: 503,
    ACCESS_DENIED: 403,
}
KINDS = frozenset({*STATUS, READ_TIMEOUT, CONNECT_TIMEOUT})


def error_code(kind: str, protocol: str) -> str:
    """The error code each service family uses for a fault kind."""
    if kind == ACCESS_DENIED:
        return "AccessDeniedException" if protocol in {"json", "rest-json"} else "AccessDenied"
    if kind == THROTTLING and protocol in {"query", "ec2", "rest-xml"}:
        return "SlowDown" if protocol == "rest-xml" else "Throttling"
    if kind == SERVICE_UNAVAILABLE and protocol in {"json", "rest-json"}:
        return "ServiceUnavailableException" if protocol == "rest-json" else "ServiceUnavailable"
    return kind


HOOK_ID = "dynamodb-dr-fault-injector"


@dataclass
class Call:
    service: str
    operation: str
    python_name: str
    params: Mapping[str, Any]
    protocol: str
    attempts: int = 0


class Decision(Protocol):
    kind: str
    applied: bool


class Decider(Protocol):
    """The active injector: decides, per attempt, whether a call fails (and how)."""

    def decide(self, call: Call) -> Decision | None: ...


_calls = threading.local()
_active: list[Decider] = []  # at most one


def activate(decider: Decider | None) -> None:
    _active[:] = [decider] if decider is not None else []


def install(set_attr: Callable[[Any, str, Any], None], retry_sleeps: list[float] | None, lock: Any) -> None:
    """Wrap botocore's call path and moto's stub; `retry_sleeps`: record back-offs instead of sleeping."""
    import botocore.client
    import botocore.endpoint

    base: Any = botocore.client.BaseClient  # _make_api_call is private: the stubs omit it
    original = base._make_api_call

    def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        client.meta.events.register_first("before-send", _before_send, unique_id=HOOK_ID)
        model = client.meta.service_model
        call = Call(
            model.service_name,
            operation_name,
            xform_name(operation_name),
            api_params,
            str(model.metadata.get("protocol", "json")),
        )
        stack: list[Call] = _calls.__dict__.setdefault("stack", [])
        stack.append(call)
        try:
            return original(client, operation_name, api_params)
        finally:
            stack.pop()

    set_attr(botocore.client.BaseClient, "_make_api_call", _make_api_call)
    stubber_class = _moto_stubber_class()
    if stubber_class is not None:
        stub = stubber_class.__call__

        def moto_stub(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            # An injected fault answered this attempt: moto must not also perform it.
            if getattr(_calls, "faulted_request", None) is request:
                return None
            lost = getattr(_calls, "lost_response", None)
            if lost is not None and lost[0] is request:
                _calls.lost_response = None
                stub(stubber, event_name, request, **kwargs)  # it happened; the answer is lost
                return _failure(request, lost[1], lost[2])
            return stub(stubber, event_name, request, **kwargs)

        set_attr(stubber_class, "__call__", moto_stub)
    if retry_sleeps is not None:
        set_attr(botocore.endpoint, "time", _RecordingTime(retry_sleeps, lock))


def _moto_stubber_class() -> Any:
    try:
        from moto.core.botocore_stubber import BotocoreStubber
    except ImportError:  # pragma: no cover - real endpoints: nothing else answers first
        return None
    return BotocoreStubber


class _RecordingTime:
    """Stands in for `time` in botocore.endpoint: back-off sleeps are recorded, not slept."""

    def __init__(self, sleeps: list[float], lock: threading.Lock) -> None:
        self._sleeps = sleeps
        self._lock = lock

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._sleeps.append(seconds)

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


def _before_send(request: Any, event_name: str = "", **kwargs: Any) -> Any:
    stack: list[Call] = getattr(_calls, "stack", [])
    if not _active or not stack:
        return None
    call = stack[-1]
    call.attempts += 1
    _calls.faulted_request = None
    _calls.lost_response = None
    rule = _active[0].decide(call)
    if rule is None:
        return None
    if rule.applied:
        _calls.lost_response = (request, rule.kind, call.protocol)
        return None
    _calls.faulted_request = request
    return _failure(request, rule.kind, call.protocol)


def _failure(request: Any, kind: str, protocol: str) -> Any:
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    if kind == READ_TIMEOUT:
        raise ReadTimeoutError(endpoint_url=request.url)
    if kind == CONNECT_TIMEOUT:
        raise ConnectTimeoutError(endpoint_url=request.url)
    return _error_response(request, kind, protocol)


def _error_response(request: Any, kind: str, protocol: str) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    code = error_code(kind, protocol)
    status = STATUS[kind]
    if protocol == "json" and kind == ACCESS_DENIED:
        status = 400  # DynamoDB and the other JSON services answer 400 for AccessDeniedException
    if code == "SlowDown":
        status = 503  # S3 throttles with 503 SlowDown
    message = f"injected fault: {code}"
    headers = {"x-amzn-RequestId": "fault-injector", "x-amz-request-id": "fault-injector"}
    if protocol in {"json", "rest-json"}:
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    elif protocol == "rest-xml":
        headers["Content-Type"] = "application/xml"
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>fault-injector</RequestId></Error>"
        ).encode()
    elif protocol == "ec2":
        headers["Content-Type"] = "text/xml"
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault-injector</RequestID></Response>"
        ).encode()
    else:  # query
        headers["Content-Type"] = "text/xml"
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type>"
            f"<Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault-injector</RequestId></ErrorResponse>"
        ).encode()
    return AWSResponse(request.url, status, HTTPHeaders.from_dict(headers), _RawBody(body))


class _RawBody:
    """The minimal urllib3-like raw response AWSResponse reads its content from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, amt: int = 1024, decode_content: bool = True) -> Iterator[bytes]:
        yield self._body

    def read(self, amt: int | None = None) -> bytes:
        body, self._body = self._body, b""
        return body
