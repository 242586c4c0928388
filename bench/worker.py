"""Subprocess side of suite 2: run ONE tool against the emulator server and print its timing.

Each tool runs in its own process (ours in the dev venv, dynamodump in its own venv), so every
tool talks to the same moto server over HTTP the same way, and the timed section excludes only
interpreter start and imports (clients are created inside it). Prints one JSON line on stdout.

    python -m bench.worker replay  ENDPOINT BUCKET TARGET
    python -m bench.worker rebuild ENDPOINT BUCKET TARGET {batch|import}
    <dynamodump venv python> bench/worker.py dynamodump ENDPOINT DUMP_DIR TARGET
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

TABLE = "customers"


def replay(endpoint: str, bucket: str, target: str) -> dict[str, Any]:
    from dynamodb_dr.cdc.archive import ArchiveStore
    from dynamodb_dr.cdc.replay import ReplayRequest, replay
    from dynamodb_dr.core.aws import AwsClients

    now = datetime.now(UTC)
    request = ReplayRequest(
        table=TABLE, start=now - timedelta(hours=3), end=now + timedelta(hours=3), target=target
    )
    started = time.perf_counter()
    clients = AwsClients(endpoint_url=endpoint)
    report = replay(request, ArchiveStore(clients.client("s3"), bucket), clients.client("dynamodb"), {})
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": report.puts + report.deletes, "workers": request.workers}


def rebuild(endpoint: str, bucket: str, target: str, mode: str) -> dict[str, Any]:
    from dynamodb_dr.core.aws import AwsClients
    from dynamodb_dr.exports.rebuild import RebuildRequest, rebuild_from_s3

    request = RebuildRequest(
        table=TABLE,
        target=target,
        at=datetime.now(UTC),
        bucket=bucket,
        use_import=mode == "import",
        cdc=False,
        poll_seconds=0.05,
    )
    started = time.perf_counter()
    clients = AwsClients(endpoint_url=endpoint)
    report = rebuild_from_s3(
        request, clients.client("dynamodb"), clients.client("s3"), progress=lambda _: None
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": report.items, "method": report.full_method}


def dynamodump(endpoint: str, dump_dir: str, target: str) -> dict[str, Any]:
    """Runs inside dynamodump's own venv: its restore, as its CLI would, timed around main()."""
    from urllib.parse import urlparse

    import dynamodump.dynamodump as tool  # type: ignore[import-not-found]

    url = urlparse(endpoint)
    sys.argv = [
        "dynamodump",
        "-m",
        "restore",
        "-r",
        "us-east-1",
        "--host",
        str(url.hostname),
        "--port",
        str(url.port),
        "--accessKey",
        "testing",
        "--secretKey",
        "testing",
        "-s",
        TABLE,
        "-d",
        target,
        "--dumpPath",
        dump_dir,
        "--noConfirm",
        "--dataOnly",
        "--skipThroughputUpdate",
        "--log",
        "WARNING",
    ]
    started = time.perf_counter()
    try:
        tool.main()
    except SystemExit as exc:
        if exc.code:
            raise
    return {"seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    tool, *rest = argv
    import boto3  # noqa: F401  (imported before the clock starts, as dynamodump's module does)

    functions: dict[str, Callable[..., dict[str, Any]]] = {
        "replay": replay,
        "rebuild": rebuild,
        "dynamodump": dynamodump,
    }
    print(json.dumps(functions[tool](*rest)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
