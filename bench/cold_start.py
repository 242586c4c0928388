"""Suite 4: cold start: import time of every handler module and the size of the built layer.

Import time: `python -X importtime -c "import app"` in a fresh subprocess per run, from the
function's folder with the layer package on sys.path (the dev venv holds the layer's pinned
dependencies), median of N, against a bare handler that imports only boto3 (written to a temp dir).
Environment as on Lambda with tracing on (Powertools Tracer imports the X-Ray SDK).

Layer size: `.aws-sam/build/DomainLayer` as `sam build` (`make build`) left it, unzipped and
zipped (deflate), against Lambda's limits (250 MB unzipped for function + layers, 50 MB zipped
for a direct upload).
"""

from __future__ import annotations

import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.harness import ROOT, Config, Row, na

SUITE = "cold start"
FUNCTIONS = ROOT / "functions"
LAYER_SRC = ROOT / "layers" / "dynamodb_dr"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "DomainLayer"
UNZIPPED_LIMIT_MB = 250.0
ZIPPED_LIMIT_MB = 50.0
BARE_HANDLER = "import boto3\n\n\ndef lambda_handler(event, context):\n    return {}\n"
_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\S.*)$")


def import_seconds(folder: Path, module: str = "app") -> float:
    """Cumulative import time of `module` (seconds) in a fresh interpreter."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(LAYER_SRC)]),
        "PYTHONDONTWRITEBYTECODE": "",  # as on Lambda: bytecode cached after the first import
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }
    env.pop("PYTHONDONTWRITEBYTECODE")
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed")
    for line in reversed(done.stderr.splitlines()):
        match = _LINE.search(line)
        if match and match.group(3).strip() == module:
            return int(match.group(2)) / 1e6
    raise RuntimeError(f"no importtime line for {module}")


def median_import(folder: Path, runs: int, warm: bool = False) -> float:
    if warm:  # fill the bytecode and OS page caches once: every run is a warm-disk cold start
        import_seconds(folder)
    return statistics.median(import_seconds(folder) for _ in range(runs))


def handlers() -> list[Path]:
    return sorted(p.parent for p in FUNCTIONS.glob("*/app.py"))


def layer_sizes(folder: Path) -> tuple[float, float, int]:
    """(unzipped MB, zipped MB, files) of a folder, zipped in memory like SAM's upload."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                unzipped += path.stat().st_size
                files += 1
                archive.write(path, path.relative_to(folder))
    return unzipped / 1e6, buffer.tell() / 1e6, files


def run(config: Config) -> list[Row]:
    runs = config.size(3, 1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        (bare / "app.py").write_text(BARE_HANDLER)
        try:
            for folder in handlers():  # one warm-up import of each handler (bytecode cache)
                import_seconds(folder)
            baseline = median_import(bare, runs, warm=True)
        except Exception as exc:
            return [na(SUITE, "handler import time", "ms", "bare boto3 handler", str(exc)[:120], "lower")]
        for folder in handlers():
            try:
                seconds = median_import(folder, runs)
            except Exception as exc:
                rows.append(
                    na(
                        SUITE,
                        f"import {folder.name}/app.py",
                        "ms",
                        "bare boto3 handler",
                        str(exc)[:120],
                        "lower",
                    )
                )
                continue
            rows.append(
                Row(
                    SUITE,
                    f"import {folder.name}/app.py",
                    seconds * 1000,
                    "ms",
                    "bare handler importing boto3",
                    baseline * 1000,
                    better="lower",
                    runs=runs,
                )
            )
    if rows and rows[0].value is not None:
        rows[0].note = (
            "python -X importtime, cumulative, warm disk; boto3 is imported lazily by our "
            "handlers (first client), so their first invocation pays it too"
        )
    rows += layer_rows()
    return rows


def layer_rows() -> list[Row]:
    if not (BUILT_LAYER / "python").is_dir():
        reason = "no .aws-sam/build/DomainLayer: run `make build` (sam build) first"
        return [na(SUITE, "built layer size, unzipped", "MB", "Lambda limit", reason, "lower")]
    unzipped, zipped, files = layer_sizes(BUILT_LAYER)
    botocore = BUILT_LAYER / "python" / "botocore"
    extra = ""
    if botocore.is_dir():
        bc_unzipped, bc_zipped, _ = layer_sizes(botocore)
        extra = (
            f"; botocore (pulled in by aws-xray-sdk) is {bc_unzipped:.1f} MB"
            f" / {bc_zipped:.1f} MB zipped of it"
        )
    return [
        Row(
            SUITE,
            "built layer size, unzipped",
            unzipped,
            "MB",
            "Lambda limit (function + layers)",
            UNZIPPED_LIMIT_MB,
            better="lower",
            note=f"{files:,} files in .aws-sam/build/DomainLayer{extra}",
        ),
        Row(
            SUITE,
            "built layer size, zipped",
            zipped,
            "MB",
            "Lambda limit (zipped direct upload)",
            ZIPPED_LIMIT_MB,
            better="lower",
        ),
    ]
