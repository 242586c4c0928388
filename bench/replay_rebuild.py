"""Suite 2: items/s applied by our replay and restore-from-s3 vs dynamodump, same server, same data.

One `Emulator(server=True)` serves a moto account over HTTP. The same N ~1 KB items are put in
the source table, archived as CDC objects (through the archiver's own `archive_batch`), and
written as a FULL S3 export (data file + manifests + chain record, the layout restore-from-s3
reads); dynamodump backs the table up to a local folder (untimed). Then each tool restores the
items into a fresh table, each in its own subprocess (bench/worker.py), median of N runs, all of
them through one `LatencyFront` (cli/dynamodb_dr_local/emulator/latency.py): AWS-like latency on
every call (S3 reads included) and a new on-demand table's write throttle (4,000 write units/s:
above it UnprocessedItems, then ProvisionedThroughputExceeded), the same for every tool. Item
writes are answered by the front (counted, not stored in moto): on this machine moto spends
milliseconds per item, which would otherwise set everyone's pace where AWS would not.

dynamodump lives in its own venv (it pins boto3): `.tools/dynamodump`, created on first use with
`.venv/bin/uv venv` + `uv pip install dynamodump`, and driven with its `--host/--port` flags.
"""

from __future__ import annotations

import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.data import ATTRIBUTES, KEY_SCHEMA, TABLE, items
from bench.harness import ROOT, Config, Row, Target, na

SUITE = "replay / rebuild"
TOOLS = ROOT / ".tools" / "dynamodump"
TOOL_PY = TOOLS / "bin" / "python"
UV = ROOT / ".venv" / "bin" / "uv"
DUMP_VERSION = "1.11.1"  # pinned: the peer measured is always the same release
# AWS-like conditions in front of the emulator, the same for every tool (see the module doc).
WRITE_UNITS_PER_SECOND = 4_000.0  # a new on-demand table's initial write throughput
ADVANTAGE_TARGET = 3.0  # issue 16: replay and rebuild >= 3x dynamodump at the same latency/throttle


def ensure_dynamodump() -> str:
    """Install dynamodump into its own venv on first use; returns its version."""
    if not TOOL_PY.exists():
        subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(TOOLS)], check=True)
    probe = [str(TOOL_PY), "-c", "import importlib.metadata as m; print(m.version('dynamodump'))"]
    done = subprocess.run(probe, capture_output=True, text=True, check=False)
    if done.returncode or done.stdout.strip() != DUMP_VERSION:
        spec = f"dynamodump=={DUMP_VERSION}"
        subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(TOOL_PY), spec], check=True)
        done = subprocess.run(probe, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _worker(python: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / "worker.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=_child_env(),
    )
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise RuntimeError(f"{args[0]}: {tail[:160]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _child_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def create_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST"
    )


def load_source(ddb: Any, data: list[dict[str, Any]]) -> None:
    create_table(ddb, TABLE)
    for i in range(0, len(data), 25):
        pending = [{"PutRequest": {"Item": it}} for it in data[i : i + 25]]
        while pending:
            pending = (
                ddb.batch_write_item(RequestItems={TABLE: pending}).get("UnprocessedItems", {}).get(TABLE, [])
            )


def write_archive(s3: Any, bucket: str, data: list[dict[str, Any]]) -> None:
    """The items as INSERT changes in the CDC archive, written by the archiver's own code."""
    from bench.data import STREAM_ARN
    from dynamodb_dr.cdc.archive import ArchiveStore, archive_batch

    now = datetime.now(UTC).replace(minute=0, second=1, microsecond=0).timestamp()
    records = [
        {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventSourceARN": STREAM_ARN,
            "dynamodb": {
                "ApproximateCreationDateTime": now + n * 0.001,
                "Keys": {"customer_id": it["customer_id"]},
                "NewImage": it,
                "SequenceNumber": str(10**20 + n * 100),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        for n, it in enumerate(data)
    ]
    store = ArchiveStore(s3, bucket)
    for i in range(0, len(records), 10_000):
        result = archive_batch(records[i : i + 10_000], store, lambda physical: physical)
        if not result.ok:
            raise RuntimeError(f"archiving failed: {result.failure}")


def write_export(s3: Any, bucket: str, data: list[dict[str, Any]]) -> None:
    """A FULL export as DynamoDB writes it (DYNAMODB_JSON, gzip) plus the chain record."""
    from dynamodb_dr.exports.chain import ExportRecord

    when = datetime.now(UTC) - timedelta(minutes=5)
    base = f"exports/{TABLE}/data/bench/AWSDynamoDB/01234567890123-abcdefgh"
    data_key = f"{base}/data/bench.json.gz"
    body = "".join(json.dumps({"Item": it}) + "\n" for it in data).encode()
    s3.put_object(Bucket=bucket, Key=data_key, Body=gzip.compress(body))
    files_key = f"{base}/manifest-files.json"
    s3.put_object(
        Bucket=bucket,
        Key=files_key,
        Body=json.dumps({"itemCount": len(data), "dataFileS3Key": data_key}).encode(),
    )
    summary_key = f"{base}/manifest-summary.json"
    s3.put_object(
        Bucket=bucket,
        Key=summary_key,
        Body=json.dumps({"manifestFilesS3Key": files_key, "itemCount": len(data)}).encode(),
    )
    record = ExportRecord(
        logical_name=TABLE,
        export_type="FULL",
        tick=when.isoformat(),
        physical_table=TABLE,
        window_to=when,
        base=True,
        status="COMPLETED",
        client_token="bench",
        s3_bucket=bucket,
        s3_prefix=f"exports/{TABLE}/data/bench",
        export_arn="arn:bench",
        item_count=len(data),
        manifest_key=summary_key,
        started_at=when,
        ended_at=when,
        table_schema={"KeySchema": KEY_SCHEMA, "AttributeDefinitions": ATTRIBUTES},
    )
    s3.put_object(
        Bucket=bucket, Key=f"exports/{TABLE}/chain/{record.sk}.json", Body=record.model_dump_json().encode()
    )


def _count(ddb: Any, table: str) -> int:
    total, request = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = ddb.scan(**request)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run(config: Config) -> list[Row]:
    from dynamodb_dr_local.emulator import Emulator
    from dynamodb_dr_local.emulator.latency import Latency, LatencyFront

    count = config.size(2_000, 500)  # loading the source through moto takes a few hundred items/s here
    latency = Latency()
    try:
        version = ensure_dynamodump()
    except Exception as exc:
        version, dump_error = "", f"dynamodump install failed: {exc}"
    else:
        dump_error = ""
    data = items(count, seed=5)
    dev_py = ROOT / ".venv" / "bin" / "python"
    results: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    with Emulator(server=True) as emu, tempfile.TemporaryDirectory() as tmp:
        assert emu.endpoint_url
        endpoint = emu.endpoint_url
        ddb, s3 = emu.clients.client("dynamodb"), emu.clients.client("s3")
        bucket = "bench-archive"
        s3.create_bucket(Bucket=bucket)
        load_source(ddb, data)
        setup: dict[str, str] = {}
        for name, step in (("replay", write_archive), ("rebuild", write_export)):
            try:
                step(s3, bucket, data)
            except Exception as exc:
                setup[name] = f"{type(exc).__name__}: {exc}"[:140]
        if not dump_error:
            backup = subprocess.run(
                [
                    str(TOOLS / "bin" / "dynamodump"),
                    "-m",
                    "backup",
                    "-r",
                    "us-east-1",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    endpoint.rsplit(":", 1)[1],
                    "--accessKey",
                    "testing",
                    "--secretKey",
                    "testing",
                    "-s",
                    TABLE,
                    "--dumpPath",
                    tmp,
                    "--log",
                    "WARNING",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
                env=_child_env(),
            )
            if backup.returncode:
                dump_error = f"dynamodump backup failed: {backup.stderr.strip()[-140:]}"
        front = LatencyFront(
            endpoint, latency=latency, write_units_per_second=WRITE_UNITS_PER_SECOND, absorb_writes=True
        ).__enter__()
        url = front.url
        tools: list[tuple[str, Path, list[str]]] = [
            ("dynamodump", TOOL_PY, ["dynamodump", url, tmp]),
            ("replay", dev_py, ["replay", url, bucket]),
            ("rebuild-batch", dev_py, ["rebuild", url, bucket]),
            ("rebuild-import", dev_py, ["rebuild", url, bucket]),
        ]
        throttles: dict[str, list[int]] = {}
        for run_index in range(-1, config.repeat):  # run -1 warms every tool up (caches, pools)
            for name, python, args in tools:  # interleaved, so drift hits every tool alike
                reason = dump_error if name == "dynamodump" else setup.get(name.split("-")[0], "")
                if reason or name in errors:
                    errors.setdefault(name, reason)
                    continue
                target = f"bench-{name}-{run_index}"
                if not name.startswith("rebuild"):  # replay and dynamodump --dataOnly write an existing table
                    create_table(ddb, target)
                extra = [name.split("-")[1]] if name.startswith("rebuild") else []
                try:
                    held_back = front.stats.unprocessed_items + front.stats.throttled_calls
                    out = _worker(python, args[0], *args[1:], target, *extra)
                    # import-from-S3 writes inside moto; every other tool's writes reach the front
                    written = _count(ddb, target) if name == "rebuild-import" else front.items(target)
                    if written != count:
                        raise RuntimeError(f"{written} of {count} items in the target")
                    if run_index >= 0:
                        results.setdefault(name, []).append(float(out["seconds"]))
                        throttles.setdefault(name, []).append(
                            front.stats.unprocessed_items + front.stats.throttled_calls - held_back
                        )
                    ddb.delete_table(TableName=target)
                except Exception as exc:
                    errors[name] = str(exc)[:160]
        front.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)

    def rate(name: str) -> float | None:
        return count / statistics.median(results[name]) if name in results else None

    baseline = rate("dynamodump")
    base_label = f"dynamodump {version} restore" if version else "dynamodump restore"
    rows = []
    conditions = (
        f"at {latency.dynamodb * 1000:.0f} ms + {latency.dynamodb_per_item * 1000:.1f} ms/item per DynamoDB "
        f"call, {latency.s3 * 1000:.0f} ms per S3 call, {WRITE_UNITS_PER_SECOND:,.0f} WCU/s throttle"
    )
    labels = {
        "replay": (
            "replay (CDC archive -> table, 8 workers)",
            "reads gzip JSONL objects from S3, last writer wins",
        ),
        "rebuild-batch": (
            "restore-from-s3, FULL export batch-written (--no-import)",
            "reads the gzip export from S3; BatchWriteItem, 8 calls in flight",
        ),
        "rebuild-import": (
            "restore-from-s3, FULL export via import-from-S3",
            "moto imports in-process: not representative of AWS import times (minutes)",
        ),
    }
    for name, (metric, note) in labels.items():
        if name not in results:
            rows.append(na(SUITE, f"{metric}, items/s", "items/s", base_label, errors.get(name, "not run")))
            continue
        held = statistics.median(throttles.get(name, [0]))
        rows.append(
            Row(
                SUITE,
                f"{metric}, items/s ({count:,} ~1 KB items, AWS-like front)",
                rate(name),
                "items/s",
                base_label if baseline else f"{base_label}: n/a ({errors.get('dynamodump', '')})",
                baseline,
                runs=len(results[name]),
                note=f"{note}; {held:.0f} writes held back by the throttle per run",
                target=None
                if name == "rebuild-import"
                else Target("advantage", ">=", ADVANTAGE_TARGET, f">= {ADVANTAGE_TARGET:g}x dynamodump"),
            )
        )
    if baseline:
        dump_held = statistics.median(throttles.get("dynamodump", [0]))
        rows[0].note += (
            f"; every tool in its own process, warmed up, through one front {conditions}; dynamodump "
            "reads its local dump (restore --dataOnly into an empty table), one 25-item BatchWriteItem at "
            f"a time ({dump_held:.0f} writes held back per run)"
        )
    return rows
