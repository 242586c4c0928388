"""Suite 2: items/s applied by our replay and restore-from-s3 vs dynamodump, same server, same data.

One `Emulator(server=True)` serves a moto account over HTTP. The same N ~1 KB items are put in
the source table, archived as CDC objects (through the archiver's own `archive_batch`), and
written as a FULL S3 export (data file + manifests + chain record, the layout restore-from-s3
reads); dynamodump backs the table up to a local folder (untimed). Then each tool restores the
items into a fresh table, each in its own subprocess (bench/worker.py), median of N runs.

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
from bench.harness import ROOT, Config, Row, na

SUITE = "replay / rebuild"
TOOLS = ROOT / ".tools" / "dynamodump"
TOOL_PY = TOOLS / "bin" / "python"
UV = ROOT / ".venv" / "bin" / "uv"
DUMP_VERSION = "1.11.1"  # pinned: the peer measured is always the same release


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

    count = config.size(2_000, 500)  # the moto server takes a few hundred items/s here
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
        tools: list[tuple[str, Path, list[str]]] = [
            ("dynamodump", TOOL_PY, ["dynamodump", endpoint, tmp]),
            ("replay", dev_py, ["replay", endpoint, bucket]),
            ("rebuild-batch", dev_py, ["rebuild", endpoint, bucket]),
            ("rebuild-import", dev_py, ["rebuild", endpoint, bucket]),
        ]
        for run_index in range(config.repeat):
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
                    out = _worker(python, args[0], *args[1:], target, *extra)
                    written = _count(ddb, target)
                    if written != count:
                        raise RuntimeError(f"{written} of {count} items in the target")
                    results.setdefault(name, []).append(float(out["seconds"]))
                    ddb.delete_table(TableName=target)
                except Exception as exc:
                    errors[name] = str(exc)[:160]
        shutil.rmtree(tmp, ignore_errors=True)

    def rate(name: str) -> float | None:
        return count / statistics.median(results[name]) if name in results else None

    baseline = rate("dynamodump")
    base_label = f"dynamodump {version} restore" if version else "dynamodump restore"
    rows = []
    labels = {
        "replay": (
            "replay (CDC archive -> table, 8 workers)",
            "reads gzip JSONL objects from S3, last writer wins",
        ),
        "rebuild-batch": (
            "restore-from-s3, FULL export batch-written (--no-import)",
            "reads the gzip export from S3; sequential BatchWriteItem",
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
        rows.append(
            Row(
                SUITE,
                f"{metric}, items/s ({count:,} ~1 KB items)",
                rate(name),
                "items/s",
                base_label if baseline else f"{base_label}: n/a ({errors.get('dynamodump', '')})",
                baseline,
                runs=len(results[name]),
                note=note,
            )
        )
    if baseline:
        rows[0].note += (
            "; every tool in its own process against one moto server; dynamodump "
            "reads its local dump (restore --dataOnly into an empty table), sequential 25-item BatchWriteItem"
        )
    try:
        rows += latency_rows(config)
    except Exception as exc:
        rows.append(
            na(SUITE, "replay at simulated AWS latency", "items/s", "sequential writer", repr(exc)[:120])
        )
    return rows


# ------------------------------------------------------------------ at AWS-like write latency

WRITE_LATENCY_S = 0.025  # one BatchWriteItem round trip on AWS, typical order of magnitude


class _LatencyDynamoDb:
    """A DynamoDB client whose BatchWriteItem takes WRITE_LATENCY_S and processes everything."""

    def __init__(self) -> None:
        self.items = 0

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        import time

        time.sleep(WRITE_LATENCY_S)
        self.items += sum(len(v) for v in RequestItems.values())
        return {"UnprocessedItems": {}}


class _MemoryStore:
    """ArchiveStore stand-in holding objects in memory (what the archiver wrote)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, records: int) -> None:
        self.objects[key] = body

    def keys(self, prefix: str) -> Any:
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    def get(self, key: str) -> bytes:
        return self.objects[key]


def latency_rows(config: Config) -> list[Row]:
    """The write loop's shape, where AWS latency (not this machine) sets the pace."""
    import time

    from bench.data import stream_records
    from dynamodb_dr.cdc.archive import archive_batch
    from dynamodb_dr.cdc.replay import ReplayRequest, replay

    count = config.size(5_000, 1_000)
    store = _MemoryStore()
    records = [r for r in stream_records(count, seed=21) if r["eventName"] != "REMOVE"]
    archive_batch(records, store, lambda physical: physical)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    request = ReplayRequest(
        table=TABLE, start=now - timedelta(hours=3), end=now + timedelta(hours=3), target="bench-latency"
    )
    rows = []

    def ours() -> tuple[float, int]:
        client = _LatencyDynamoDb()
        started = time.perf_counter()
        replay(request, store, client, {})  # type: ignore[arg-type]
        return time.perf_counter() - started, client.items

    def sequential(ops: list[dict[str, Any]]) -> tuple[float, int]:
        client = _LatencyDynamoDb()
        started = time.perf_counter()
        for i in range(0, len(ops), 25):  # dynamodump's loop: one 25-item batch after the other
            client.batch_write_item(RequestItems={"t": ops[i : i + 25]})
        return time.perf_counter() - started, client.items

    ops = [{"PutRequest": {"Item": r["dynamodb"]["NewImage"]}} for r in records]
    base = [sequential(ops) for _ in range(config.repeat)]
    base_rate = statistics.median(n / s for s, n in base)
    label = f"sequential 25-item BatchWriteItem (dynamodump's loop) at {WRITE_LATENCY_S * 1000:.0f} ms"
    mine = [ours() for _ in range(config.repeat)]
    rows.append(
        Row(
            SUITE,
            f"replay at {WRITE_LATENCY_S * 1000:.0f} ms/BatchWriteItem (simulated), items/s",
            statistics.median(n / s for s, n in mine),
            "items/s",
            label,
            base_rate,
            runs=config.repeat,
            note="the real replay() (read, order, 8 workers) over an in-memory archive and a client "
            "that sleeps per call: the write loop's shape at AWS latency, not this machine's",
        )
    )
    try:
        from dynamodb_dr.exports.rebuild import _apply

        def rebuild_apply() -> tuple[float, int]:
            client = _LatencyDynamoDb()
            started = time.perf_counter()
            _apply(client, "t", iter(ops))
            return time.perf_counter() - started, client.items

        runs = [rebuild_apply() for _ in range(config.repeat)]
        rows.append(
            Row(
                SUITE,
                f"restore-from-s3 write loop at {WRITE_LATENCY_S * 1000:.0f} ms (simulated), items/s",
                statistics.median(n / s for s, n in runs),
                "items/s",
                label,
                base_rate,
                runs=config.repeat,
                note="s3_rebuild._apply: one batch at a time",
            )
        )
    except Exception as exc:
        rows.append(
            na(
                SUITE,
                "restore-from-s3 write loop (simulated latency)",
                "items/s",
                label,
                f"{type(exc).__name__}: {exc}"[:120],
            )
        )
    return rows
