"""An AWS-like front for the emulator's HTTP server: per-request latency and a write throttle.

moto answers in well under a millisecond of network time and never throttles, so a tool that
keeps many requests in flight looks no better on it than one that waits for each answer in turn.
`LatencyFront` is a small HTTP proxy any SDK (ours, dynamodump, the AWS CLI) can be pointed at:

- every request is held for the service's latency before it is answered, concurrently (AWS
  serves requests in parallel): DynamoDB `base + per item` for batch writes, S3 per request;
- DynamoDB writes draw write units from a token bucket (`write_units_per_second`, one second of
  burst; 1 unit per started KB of the item's JSON): a `BatchWriteItem` gets the items the bucket
  covers and the rest back as `UnprocessedItems`, and a call none of whose items fits (or a
  `PutItem`/`DeleteItem`/`UpdateItem` that does not fit) is refused with
  `ProvisionedThroughputExceededException`, as DynamoDB does;
- with `absorb_writes`, item writes are answered by the front itself (counted per table, not
  stored in the emulator), so the emulator's CPU (moto spends milliseconds per item on this
  machine) does not set the pace of a write benchmark where AWS would not; reads, S3 and every
  other call are always forwarded.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

Reply = tuple[int, Any, bytes]  # status, headers, body
WRITE_TARGETS = ("BatchWriteItem", "PutItem", "DeleteItem", "UpdateItem")
THROTTLED = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Latency:
    """Seconds a request is held: DynamoDB `dynamodb + dynamodb_per_item * items written`, S3 `s3`."""

    dynamodb: float = 0.010
    dynamodb_per_item: float = 0.0006  # a 25-item BatchWriteItem: 25 ms
    s3: float = 0.020


@dataclass
class FrontStats:
    requests: dict[str, int] = field(default_factory=dict)  # per "dynamodb:<op>" / "s3:<method>"
    throttled_calls: int = 0  # refused whole
    unprocessed_items: int = 0  # handed back in UnprocessedItems
    absorbed: dict[str, set[str]] = field(default_factory=dict)  # table -> distinct items written
    cpu_seconds: float = 0.0  # the front's own CPU (its handler threads)


class _Bucket:
    """Token bucket of write units: `rate` per second, at most one second's worth saved."""

    def __init__(self, rate: float | None, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate or 0.0
        self._at = clock()
        self._lock = threading.Lock()

    def take(self, units: list[int]) -> int:
        """How many of the leading writes (their units) the bucket covers now; takes theirs."""
        if self.rate is None:
            return len(units)
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            granted = 0
            for cost in units:
                if cost > self._tokens:
                    break
                self._tokens -= cost
                granted += 1
            return granted


def write_units(item: Mapping[str, Any]) -> int:
    return max(1, math.ceil(len(json.dumps(item, separators=(",", ":"))) / 1024))


class LatencyFront:
    """`with LatencyFront(emulator.endpoint_url, ...) as front:` then use `front.url`."""

    def __init__(
        self,
        upstream: str,
        *,
        latency: Latency | None = None,
        write_units_per_second: float | None = None,
        absorb_writes: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = urlparse(upstream)
        self._upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.latency = latency or Latency()
        self.absorb_writes = absorb_writes
        self.stats = FrontStats()
        self._bucket = _Bucket(write_units_per_second, clock)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def __enter__(self) -> LatencyFront:
        front = self

        class Handler(_Handler):
            owner = front

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def items(self, table: str) -> int:
        """Distinct items absorbed for `table` (absorb_writes)."""
        with self._lock:
            return len(self.stats.absorbed.get(table, ()))

    # ------------------------------------------------------------------ request handling

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats.requests[name] = self.stats.requests.get(name, 0) + 1

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        target = headers.get("X-Amz-Target", "")
        if target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[1]
            self._count(f"dynamodb:{operation}")
            if operation in WRITE_TARGETS:
                return self._write(operation, method, path, headers, body)
            time.sleep(self.latency.dynamodb)
            return self._forward(method, path, headers, body)
        self._count(f"s3:{method}")
        time.sleep(self.latency.s3)
        return self._forward(method, path, headers, body)

    def _write(
        self, operation: str, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        request = json.loads(body or b"{}")
        if operation != "BatchWriteItem":
            time.sleep(self.latency.dynamodb)
            item = request.get("Item") or request.get("Key") or {}
            if not self._bucket.take([write_units(item)]):
                return self._throttled()
            if self.absorb_writes and operation == "PutItem":
                self._absorb(str(request.get("TableName")), [item])
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, b"{}"
            return self._forward(method, path, headers, body)
        writes = [(table, op) for table, ops in request.get("RequestItems", {}).items() for op in ops]
        time.sleep(self.latency.dynamodb + self.latency.dynamodb_per_item * len(writes))
        units = [write_units(op.get("PutRequest", {}).get("Item") or {}) for _, op in writes]
        granted = self._bucket.take(units)
        if writes and not granted:
            return self._throttled()
        accepted, rest = writes[:granted], writes[granted:]
        unprocessed: dict[str, list[Any]] = {}
        for table, op in rest:
            unprocessed.setdefault(table, []).append(op)
        with self._lock:
            self.stats.unprocessed_items += len(rest)
        if self.absorb_writes:
            for table, op in accepted:
                if "PutRequest" in op:
                    self._absorb(table, [op["PutRequest"]["Item"]])
            answer = {"UnprocessedItems": unprocessed}
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(answer).encode()
        forwarded: dict[str, list[Any]] = {}
        for table, op in accepted:
            forwarded.setdefault(table, []).append(op)
        status, out_headers, out = self._forward(
            method, path, headers, json.dumps({**request, "RequestItems": forwarded}).encode()
        )
        if status == 200 and unprocessed:
            answer = json.loads(out)
            for table, ops in answer.get("UnprocessedItems", {}).items():
                unprocessed.setdefault(table, []).extend(ops)
            out = json.dumps({**answer, "UnprocessedItems": unprocessed}).encode()
            out_headers = [(n, v) for n, v in out_headers if n.lower() != "x-amz-crc32"]
            out_headers.append(("x-amz-crc32", str(zlib.crc32(out))))  # botocore checks it
        return status, out_headers, out

    def _absorb(self, table: str, items: list[Any]) -> None:
        with self._lock:
            seen = self.stats.absorbed.setdefault(table, set())
            seen.update(repr(item) for item in items)  # as parsed from the wire: cheap, exact

    def _throttled(self) -> Reply:
        with self._lock:
            self.stats.throttled_calls += 1
        body = {"__type": THROTTLED, "message": "The level of configured provisioned throughput was exceeded"}
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body).encode()

    def _forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed meanwhile
            if connection is None:
                connection = http.client.HTTPConnection(*self._upstream, timeout=120)
                self._local.connection = connection
            try:
                sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
                sent["Content-Length"] = str(len(body))
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class _Handler(BaseHTTPRequestHandler):
    owner: LatencyFront
    protocol_version = "HTTP/1.1"  # keep-alive, as SDKs expect

    def _serve(self) -> None:
        started = time.thread_time()
        try:
            self._answer()
        finally:
            with self.owner._lock:
                self.owner.stats.cpu_seconds += time.thread_time() - started

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, out = self.owner.handle(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(status)
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
        for name, value in pairs:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        upstream_length = [v for n, v in pairs if n.lower() == "content-length"]
        head = self.command == "HEAD" and upstream_length
        self.send_header("Content-Length", upstream_length[0] if head else str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # no access log
        return
