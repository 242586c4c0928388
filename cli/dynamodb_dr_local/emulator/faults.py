"""Fault injection for emulated (or real) AWS calls: throttling, 5xx, timeouts, access denied.

    with FaultInjector(seed=7) as faults:
        faults.add("dynamodb", "CreateBackup", THROTTLING, times=1)
        faults.add("dynamodb", "*", ACCESS_DENIED, when=touches_table("orders"))
        ... invoke handlers, run state machines ...
    faults.report()  # what was injected, per service.operation and kind

Every client in the process is affected, including the ones handlers and moto's Step Functions
create; the fault is a synthetic error response botocore parses and retries as a real one
(emulator/fault_wire.py). Retry back-off sleeps are skipped while active (`instant_retries`) and
recorded instead.

A rule matches by service (botocore service name, e.g. "dynamodb", "s3", "stepfunctions"),
operation (API name "CreateBackup" or python name "create_backup"; "*" for any) and an optional
predicate on the call's parameters. It fires `times` times at most (None: every matching attempt)
after skipping the first `skip` matching attempts, each time with `probability` (seeded RNG).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dynamodb_dr_local.emulator import fault_wire
from dynamodb_dr_local.emulator.fault_wire import (
    ACCESS_DENIED,
    CONNECT_TIMEOUT,
    INTERNAL_SERVER_ERROR,
    KINDS,
    PROVISIONED_THROUGHPUT_EXCEEDED,
    READ_TIMEOUT,
    SERVICE_UNAVAILABLE,
    THROTTLING,
    Call,
)

__all__ = [
    "ACCESS_DENIED",
    "CONNECT_TIMEOUT",
    "INTERNAL_SERVER_ERROR",
    "KINDS",
    "PROVISIONED_THROUGHPUT_EXCEEDED",
    "READ_TIMEOUT",
    "SERVICE_UNAVAILABLE",
    "THROTTLING",
    "FaultInjector",
    "FaultReport",
    "FaultRule",
    "inject",
    "touches_table",
]


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
        sleeps = self._report.retry_sleeps if self.instant_retries else None
        fault_wire.install(self._set, sleeps, self._lock)
        fault_wire.activate(self)

    def _uninstall(self) -> None:
        fault_wire.activate(None)
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)

    # ------------------------------------------------------------------ decisions
    def decide(self, call: Call) -> FaultRule | None:
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
