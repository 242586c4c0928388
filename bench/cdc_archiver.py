"""Suite 1: the CDC archiver handler vs a one-object-per-change writer (dynamodb-replicator style).

Both run in this process, single-threaded (= one core), against the same emulated S3 (moto in
process). Ours is the real `functions/cdc_archiver/app.py` handler invoked with a 10,000-record
Lambda DynamoDB Streams event; S3 requests are counted on the boto3 clients the handler creates.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from types import ModuleType
from typing import Any

from bench.data import stream_records
from bench.harness import ROOT, Config, Row, Sample, measure_inner, na

SUITE = "cdc archiver"
HANDLER = ROOT / "functions" / "cdc_archiver" / "app.py"
CHANGES = 1_000_000  # S3 requests are reported per this many changes


class _Context:
    function_name = "bench-cdc-archiver"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-cdc-archiver"
    aws_request_id = "bench"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cdc_archiver_app", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with redirect_stdout(io.StringIO()):
        spec.loader.exec_module(module)
    return module


class RequestCounter:
    """Counts every API call made by the boto3 clients it is attached to (retries included)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._count)
        return client

    def _count(self, request: Any, **_: Any) -> None:
        self.calls[request.method] = self.calls.get(request.method, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _counting_clients(counter: RequestCounter) -> Any:
    """A warm_clients() stand-in whose S3 client counts its requests."""
    from dynamodb_dr.core.aws import AwsClients

    class CountingClients(AwsClients):
        def client(self, service: str) -> Any:
            fresh = service not in self._cache
            client = super().client(service)
            if fresh and service == "s3":
                counter.attach(client)
            return client

    clients = CountingClients()
    return lambda environ: clients


def per_object_writer(s3: Any, bucket: str, records: list[dict[str, Any]]) -> None:
    """The dynamodb-replicator approach: every change is its own S3 object, keyed by the item key."""
    for record in records:
        ddb = record["dynamodb"]
        key_text = json.dumps(ddb["Keys"], sort_keys=True)
        key = f"backup/{TABLE_NAME}/{hashlib.md5(key_text.encode()).hexdigest()}"
        if record["eventName"] == "REMOVE":
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(ddb["NewImage"]).encode())


TABLE_NAME = "customers"


def run(config: Config) -> list[Row]:
    from dynamodb_dr_local.emulator import Emulator

    count = config.size(10_000, 2_000)
    baseline_count = config.size(1_000, 300)  # linear per change; keeps the run short
    records = stream_records(count)
    event = {"Records": records}
    payload_mb = len(json.dumps(event)) / 1e6
    rows: list[Row] = []
    with Emulator() as emu:
        s3 = emu.clients.client("s3")
        env = {
            "PROTECTED_TABLES": TABLE_NAME,
            "SSM_PREFIX": "/dynamodb-dr/bench",
            "STATE_TABLE": "bench-state",
            "POWERTOOLS_SERVICE_NAME": "cdc-archiver",
            "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "CDC_MAX_RECORDS_PER_OBJECT": "10000",
        }
        with _env(env):  # Powertools reads its settings when the module creates its objects
            module = load_handler()
        counter = RequestCounter()
        module.warm_clients = _counting_clients(counter)  # type: ignore[attr-defined]
        requests_per_run: list[int] = []
        objects: list[int] = []

        def ours(i: int) -> float:
            bucket = f"bench-cdc-{uuid.uuid4().hex[:12]}"  # fresh bucket: keys are deterministic
            s3.create_bucket(Bucket=bucket)
            before = counter.total
            with _env({**env, "ARCHIVE_BUCKET": bucket}), redirect_stdout(io.StringIO()):
                started = time.perf_counter()
                result = module.lambda_handler(event, _Context())
                seconds = time.perf_counter() - started
            if result.get("batchItemFailures"):
                raise RuntimeError(f"archiver reported failures: {result}")
            requests_per_run.append(counter.total - before)
            objects.append(len(s3.list_objects_v2(Bucket=bucket, Prefix="cdc/").get("Contents", [])))
            return seconds

        baseline_requests: list[int] = []
        base_counter = RequestCounter()
        base_s3 = base_counter.attach(emu.clients.client("s3"))
        sample = records[:baseline_count]

        def baseline(i: int) -> float:
            bucket = f"bench-rep-{uuid.uuid4().hex[:12]}"
            s3.create_bucket(Bucket=bucket)
            before = base_counter.total
            started = time.perf_counter()
            per_object_writer(base_s3, bucket, sample)
            seconds = time.perf_counter() - started
            baseline_requests.append(base_counter.total - before)
            return seconds

        try:
            ours_sample: Sample = measure_inner(ours, config.repeat)
        except Exception as exc:
            return [na(SUITE, "records/s per core", "records/s", "one object per change", repr(exc)[:120])]
        base_sample = measure_inner(baseline, config.repeat)

    ours_rate = count / ours_sample.median
    base_rate = baseline_count / base_sample.median
    rows.append(
        Row(
            SUITE,
            f"records/s per core ({count:,}-record event, {payload_mb:.1f} MB)",
            ours_rate,
            "records/s",
            f"one object per change ({baseline_count:,} records)",
            base_rate,
            runs=config.repeat,
            note=(
                f"real handler in process, moto S3 in process, 1 thread; {objects[-1]} object(s) per batch; "
                f"spread {ours_sample.spread:.0%} vs {base_sample.spread:.0%}"
            ),
        )
    )
    ours_requests = statistics_median(requests_per_run) * CHANGES / count
    base_requests = statistics_median(baseline_requests) * CHANGES / baseline_count
    rows.append(
        Row(
            SUITE,
            "S3 requests per 1M changes",
            ours_requests,
            "requests",
            "one object per change",
            base_requests,
            better="lower",
            runs=config.repeat,
            note="counted on the handler's boto3 S3 client: PUTs plus the LIST that guards retried batches",
        )
    )
    return rows


def statistics_median(values: list[int]) -> float:
    import statistics

    return float(statistics.median(values))


if __name__ == "__main__":  # pragma: no cover - manual run of one suite
    from bench.harness import render

    print(render(run(Config(quick="--quick" in sys.argv))))
