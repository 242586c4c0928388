"""Routes emulated Lambda invocations to the project's own Python handlers, in process.

moto sends every invocation (boto3 `invoke`, Step Functions tasks, stream event source mappings)
through `LambdaFunction._invoke_lambda`, which would start Docker. We replace it with a call to the
handler in `functions/<name>/app.py`, under the function's configured environment.
"""

from __future__ import annotations

import contextvars
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

RUNTIME_ENV = {
    # No X-Ray daemon in the emulator.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}


# Process-wide: handler modules are imported once, and their loggers bind to one sink.
_shared: dict[str, Any] = {}
# Handlers read os.environ, which is per process: one emulated invocation at a time.
_INVOKE_LOCK = threading.RLock()


@dataclass(frozen=True)
class HandlerSpec:
    code_dir: Path
    handler: str  # "app.lambda_handler"

    @property
    def module_path(self) -> Path:
        return self.code_dir / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass
class Invocation:
    function_name: str
    event: Any
    result: Any
    errored: bool
    logs: str
    seconds: float


class _LogSink(io.TextIOBase):
    """stdout stand-in: lines written by a handler thread go to that invocation's log buffer."""

    def __init__(self) -> None:
        self.passthrough: Any = sys.__stdout__
        self._local = threading.local()

    @contextmanager
    def capture(self) -> Iterator[io.StringIO]:
        buffer = io.StringIO()
        previous = getattr(self._local, "buffer", None)
        self._local.buffer = buffer
        try:
            yield buffer
        finally:
            self._local.buffer = previous

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        if buffer is not None:
            return int(buffer.write(text))
        try:
            return int(self.passthrough.write(text))
        except ValueError:  # the stream it passed through to was closed (e.g. a finished test's)
            self.passthrough = sys.__stdout__
            return int(self.passthrough.write(text))

    def flush(self) -> None:
        if getattr(self._local, "buffer", None) is not None:
            return
        try:
            self.passthrough.flush()
        except ValueError:
            self.passthrough = sys.__stdout__


@dataclass
class _FakeContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "emulator"

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class HandlerRouter:
    """Maps emulated function names to handler code and runs them."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}
        self._by_code: dict[str, HandlerSpec] = {}
        self.invocations: list[Invocation] = []
        self.endpoint_url: str | None = None
        self.fault_hook: Callable[[str, Any], None] | None = None

    def register(self, function_name: str, spec: HandlerSpec) -> None:
        self._specs[function_name] = spec

    def expect_code(self, s3_key: str, spec: HandlerSpec) -> None:
        """A function created from this code object runs `spec` (for invocations that happen while
        the stack is still being created, e.g. a custom resource)."""
        self._by_code[s3_key] = spec

    def knows(self, function_name: str) -> bool:
        return function_name in self._specs

    def invoke(self, function: Any, event_json: str | bytes | dict[str, Any] | None) -> tuple[str, bool, str]:
        spec = self._specs.get(function.function_name) or self._by_code.get(
            str(getattr(function, "code", {}).get("S3Key", ""))
        )
        if spec is None:
            message = {
                "errorType": "FunctionNotWired",
                "errorMessage": f"no handler for {function.function_name}",
            }
            return json.dumps(message), True, ""
        event = json.loads(event_json) if isinstance(event_json, str | bytes) else (event_json or {})
        env = {
            **RUNTIME_ENV,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_REGION": function.region,
            **{k: str(v) for k, v in function.environment_vars.items()},
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        context = _FakeContext(function.function_name, int(function.memory_size), int(function.timeout))
        started = time.perf_counter()
        with _INVOKE_LOCK, _environ(env), _stdout_captured() as logs:
            try:
                if self.fault_hook:
                    # The hook plays someone else (an application, an operator): a fresh context,
                    # so nothing of the invoked function's identity follows its calls.
                    contextvars.Context().run(self.fault_hook, function.function_name, event)
                handler = getattr(self._module(spec), spec.function_name)
                result, errored = handler(event, context), False
            except Exception as exc:  # the Lambda runtime's error shape
                result = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
                errored = True
        seconds = time.perf_counter() - started
        self.invocations.append(
            Invocation(function.function_name, event, result, errored, logs.getvalue(), seconds)
        )
        return json.dumps(result, default=str), errored, logs.getvalue()

    def _module(self, spec: HandlerSpec) -> ModuleType:
        path = spec.module_path
        modules: dict[Path, ModuleType] = _shared.setdefault("modules", {})
        if path not in modules:
            name = f"dynamodb_dr_functions.{path.parent.name}.{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            assert module_spec and module_spec.loader
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)  # under _stdout_captured: loggers bind to the sink
            modules[path] = module
        return modules[path]


@contextmanager
def _stdout_captured() -> Iterator[io.StringIO]:
    """Capture what this thread writes to stdout (print or loggers) during one invocation.

    One sink per process: Powertools loggers keep the stream they saw at first import, so the
    sink stays valid across emulators and test runs; other threads' output passes through.
    """
    sink: _LogSink = _shared.get("sink") or _shared.setdefault("sink", _LogSink())
    previous = sys.stdout
    if previous is not sink:
        sink.passthrough = previous
    sys.stdout = sink
    try:
        with sink.capture() as buffer:
            yield buffer
    finally:
        sys.stdout = previous


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
