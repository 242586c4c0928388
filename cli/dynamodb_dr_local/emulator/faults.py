"""Fault injection for emulated (or real) AWS calls: throttling, 5xx, timeouts, access denied.

    with FaultInjector(seed=7) as faults:
        faults.add("dynamodb", "CreateBackup", THROTTLING, times=1)
        faults.add("dynamodb", "*", ACCESS_DENIED, when=touches_table("orders"))
        ... invoke handlers, run state machines ...
    faults.report()  # what was injected, per service.operation and kind

How it works: while active, `botocore.client.BaseClient._make_api_call` is wrapped, so every
client anywhere in the process (including the ones handlers and moto's Step Functions create)
registers a `before-send` hook *first* on its event system and records the call's operation and
parameters. That hook runs once per HTTP attempt, inside botocore's retry loop, ahead of moto's
own stub: a fault returns a synthetic error response (or raises a botocore timeout), so botocore
parses and retries it exactly as it would a real one. Retry back-off sleeps are skipped while
active (`instant_retries`) and recorded instead.

A rule matches by service (botocore service name, e.g. "dynamodb", "s3", "stepfunctions"),
operation (API name "CreateBackup" or python name "create_backup"; "*" for any) and an optional
predicate on the call's parameters. It fires `times` times at most (None: every matching attempt)
after skipping the first `skip` matching attempts, each time with `probability` (seeded RNG).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name

# Fault kinds ------------------------------------------------------------------------------
THROTTLING = "ThrottlingException"
PROVISIONED_THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
INTERNAL_SERVER_ERROR = "InternalServerError"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
READ_TIMEOUT = "ReadTimeout"
CONNECT_TIMEOUT = "ConnectTimeout"
ACCESS_DENIED = "AccessDenied"

_STATUS = {
    THROTTLING: 400,
    PROVISIONED_THROUGHPUT_EXCEEDED: 400,
    INTERNAL_SERVER_ERROR: 500,
    SERVICE_UNAVAILABLE: 503,
    ACCESS_DENIED: 403,
}
KINDS = frozenset({*_STATUS, READ_TIMEOUT, CONNECT_TIMEOUT})
_HOOK_ID = "dynamodb-dr-fault-injector"


def _error_code(kind: str, protocol: str) -> str:
    """The error code each service family uses for a fault kind."""
    if kind == ACCESS_DENIED:
        return "AccessDeniedException" if protocol in {"json", "rest-json"} else "AccessDenied"
    if kind == THROTTLING and protocol in {"query", "ec2", "rest-xml"}:
        return "SlowDown" if protocol == "rest-xml" else "Throttling"
    if kind == SERVICE_UNAVAILABLE and protocol in {"json", "rest-json"}:
        return "ServiceUnavailableException" if protocol == "rest-json" else "ServiceUnavailable"
    return kind


@dataclass
class FaultRule:
    service: str
    operation: str
    kind: str
    when: Callable[[Mapping[str, Any]], bool] | None = None
    times: int | None = None
    skip: int = 0
    probability: float = 1.0
    applied: bool = False  # the request takes effect, then the failure replaces the response
    matched: int = 0  # matching attempts seen
    injected: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    def matches(self, service: str, operation: str, python_name: str, params: Mapping[str, Any]) -> bool:
        if self.service not in {"*", service}:
            return False
        if self.operation not in {"*", operation, python_name}:
            return False
        return self.when is None or bool(self.when(params))

    def label(self) -> str:
        return f"{self.service}.{self.operation}:{self.kind}"


@dataclass(frozen=True)
class InjectedFault:
    service: str
    operation: str
    kind: str
    attempt: int  # botocore's attempt number of the call (1 = first try)
    rule: str


@dataclass
class _Call:
    service: str
    operation: str
    python_name: str
    params: Mapping[str, Any]
    protocol: str
    attempts: int = 0


@dataclass
class FaultReport:
    injected: list[InjectedFault] = field(default_factory=list)
    retry_sleeps: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.injected)

    def count(self, service: str | None = None, operation: str | None = None, kind: str | None = None) -> int:
        return sum(
            1
            for fault in self.injected
            if (service is None or fault.service == service)
            and (operation is None or fault.operation == operation)
            and (kind is None or fault.kind == kind)
        )

    def by_operation(self) -> dict[str, int]:
        return dict(Counter(f"{f.service}.{f.operation}:{f.kind}" for f in self.injected))

    def summary(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(self.by_operation().items())) or "none"
        return f"{self.total} faults injected ({parts}); {len(self.retry_sleeps)} retry back-offs skipped"


_active_lock = threading.Lock()
_active: FaultInjector | None = None
_calls = threading.local()


class FaultInjector:
    """Makes chosen AWS calls fail while active. One injector is active at a time."""

    def __init__(self, seed: int = 0, *, instant_retries: bool = True) -> None:
        self.rules: list[FaultRule] = []
        self.instant_retries = instant_retries
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._report = FaultReport()
        self._saved: list[tuple[Any, str, Any]] = []
        # Every call made while active: (service, operation, parameters), first attempts only.
        self.calls: list[tuple[str, str, Mapping[str, Any]]] = []

    # ------------------------------------------------------------------ rules
    def add(
        self,
        service: str,
        operation: str,
        kind: str,
        *,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
        times: int | None = None,
        skip: int = 0,
        probability: float = 1.0,
        applied: bool = False,
    ) -> FaultRule:
        """Make matching attempts fail with `kind`. `applied=True` models a lost response: the
        emulated call takes effect, then the caller sees the failure (needs the moto stub)."""
        if applied and kind in {ACCESS_DENIED, CONNECT_TIMEOUT, THROTTLING, PROVISIONED_THROUGHPUT_EXCEEDED}:
            raise ValueError(f"{kind} never takes effect on AWS: applied=True makes no sense")
        rule = FaultRule(service, operation, kind, when, times, skip, probability, applied)
        with self._lock:
            self.rules.append(rule)
        return rule

    def throttle(self, service: str, operation: str, **kwargs: Any) -> FaultRule:
        kind = PROVISIONED_THROUGHPUT_EXCEEDED if kwargs.pop("provisioned", False) else THROTTLING
        return self.add(service, operation, kind, **kwargs)

    def server_error(
        self, service: str, operation: str, *, unavailable: bool = False, **kwargs: Any
    ) -> FaultRule:
        kind = SERVICE_UNAVAILABLE if unavailable else INTERNAL_SERVER_ERROR
        return self.add(service, operation, kind, **kwargs)

    def timeout(self, service: str, operation: str, *, connect: bool = False, **kwargs: Any) -> FaultRule:
        return self.add(service, operation, CONNECT_TIMEOUT if connect else READ_TIMEOUT, **kwargs)

    def deny(self, service: str, operation: str, **kwargs: Any) -> FaultRule:
        return self.add(service, operation, ACCESS_DENIED, **kwargs)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    # ------------------------------------------------------------------ reporting
    def report(self) -> FaultReport:
        with self._lock:
            return FaultReport(list(self._report.injected), list(self._report.retry_sleeps))

    @property
    def injected(self) -> int:
        return len(self._report.injected)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FaultInjector:
        global _active  # noqa: PLW0603 - one process-wide active injector
        with _active_lock:
            if _active is not None:
                raise RuntimeError("another FaultInjector is already active")
            _active = self
        try:
            self._install()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        global _active  # noqa: PLW0603
        self._uninstall()
        with _active_lock:
            _active = None

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def _install(self) -> None:
        import botocore.client
        import botocore.endpoint

        base: Any = botocore.client.BaseClient  # _make_api_call is private: the stubs omit it
        original = base._make_api_call

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            client.meta.events.register_first("before-send", _before_send, unique_id=_HOOK_ID)
            model = client.meta.service_model
            call = _Call(
                model.service_name,
                operation_name,
                xform_name(operation_name),
                api_params,
                str(model.metadata.get("protocol", "json")),
            )
            stack: list[_Call] = _calls.__dict__.setdefault("stack", [])
            stack.append(call)
            try:
                return original(client, operation_name, api_params)
            finally:
                stack.pop()

        self._set(botocore.client.BaseClient, "_make_api_call", _make_api_call)
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

            self._set(stubber_class, "__call__", moto_stub)
        if self.instant_retries:
            self._set(botocore.endpoint, "time", _RecordingTime(self._report.retry_sleeps, self._lock))

    def _uninstall(self) -> None:
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)

    # ------------------------------------------------------------------ decisions
    def _decide(self, call: _Call) -> FaultRule | None:
        with self._lock:
            if call.attempts == 1:
                self.calls.append((call.service, call.operation, call.params))
            for rule in self.rules:
                if not rule.matches(call.service, call.operation, call.python_name, call.params):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.times is not None and rule.injected >= rule.times:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.injected += 1
                self._report.injected.append(
                    InjectedFault(call.service, call.operation, rule.kind, call.attempts, rule.label())
                )
                return rule
        return None


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
    injector = _active
    stack: list[_Call] = getattr(_calls, "stack", [])
    if injector is None or not stack:
        return None
    call = stack[-1]
    call.attempts += 1
    _calls.faulted_request = None
    _calls.lost_response = None
    rule = injector._decide(call)
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

    code = _error_code(kind, protocol)
    status = _STATUS[kind]
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


# Predicates ------------------------------------------------------------------------------
def touches_table(name: str) -> Callable[[Mapping[str, Any]], bool]:
    """Matches calls about DynamoDB table `name`: TableName, a table/backup ARN, or a target table."""
    marker = f":table/{name}/"

    def predicate(params: Mapping[str, Any]) -> bool:
        for key in ("TableName", "SourceTableName", "TargetTableName"):
            if params.get(key) == name:
                return True
        for key in ("TableArn", "BackupArn", "SourceTableArn", "ResourceArn"):
            value = str(params.get(key, ""))
            if value.endswith(f":table/{name}") or marker in value:
                return True
        return False

    return predicate


@contextmanager
def inject(seed: int = 0, **kwargs: Any) -> Iterator[FaultInjector]:
    """`with inject() as faults:` shorthand for `with FaultInjector() as faults:`."""
    with FaultInjector(seed, **kwargs) as injector:
        yield injector
