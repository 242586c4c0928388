"""Suite 4: cold start: import cost of every handler and the size of the built layer.

Import cost: CPU time of `import app` then `import boto3` in a fresh interpreter per run, from the
function's folder with the layer package on sys.path (the dev venv holds the layer's pinned
dependencies), median of N, against a bare handler that imports only boto3 (issue 16: "count
boto3 on both sides": our handlers create their clients, and so import boto3, on first use). CPU
time (process_time), not wall time: other work on a shared machine inflates wall time most.
Bytecode is cached (a warm-up import first), as for the runtime's own boto3.

Layer size: `.aws-sam/build/DomainLayer` as `sam build` (`make build`) left it, unzipped and
zipped (deflate), against issue 16's 10 MB budget and Lambda's limits.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.harness import ROOT, Config, Row, Target, na

SUITE = "cold start"
FUNCTIONS = ROOT / "functions"
LAYER_SRC = ROOT / "layers" / "dynamodb_dr"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "DomainLayer"
UNZIPPED_LIMIT_MB = 250.0
ZIPPED_LIMIT_MB = 50.0
LAYER_BUDGET_MB = 10.0  # issue 16
IMPORT_BUDGET_MS = 100.0  # issue 16: handler import <= +100 ms over a bare boto3 handler
BARE_HANDLER = "import boto3\n\n\ndef lambda_handler(event, context):\n    return {}\n"
_PROBE = (
    "import time, importlib; t = time.process_time(); importlib.import_module('app'); "
    "importlib.import_module('boto3'); print(time.process_time() - t)"
)


def import_seconds(folder: Path) -> float:
    """CPU seconds of `import app; import boto3` in a fresh interpreter."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(LAYER_SRC)]),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached after the first import
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed")
    return float(done.stdout.strip().splitlines()[-1])


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
    runs = 1 if config.quick else max(5, config.repeat)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        (bare / "app.py").write_text(BARE_HANDLER)
        folders = [bare, *handlers()]
        samples: dict[Path, list[float]] = {f: [] for f in folders}
        failed: dict[Path, str] = {}
        for folder in folders:  # warm-up: bytecode and page caches, both sides
            try:
                import_seconds(folder)
            except Exception as exc:
                failed[folder] = str(exc)[:120]
        if bare in failed:
            return [na(SUITE, "handler import time", "ms", "bare boto3 handler", failed[bare], "lower")]
        for _ in range(runs):  # interleaved, so drift in the machine's load hits both sides alike
            for folder in folders:
                if folder not in failed:
                    samples[folder].append(import_seconds(folder))
        baseline = statistics.median(samples[bare])
        for folder in folders[1:]:
            metric = f"import {folder.name}/app.py + boto3, CPU"
            if folder in failed:
                rows.append(na(SUITE, metric, "ms", "bare boto3 handler", failed[folder], "lower"))
                continue
            rows.append(
                Row(
                    SUITE,
                    metric,
                    statistics.median(samples[folder]) * 1000,
                    "ms",
                    "bare handler importing boto3",
                    baseline * 1000,
                    better="lower",
                    runs=runs,
                    target=Target("excess", "<=", IMPORT_BUDGET_MS, f"<= +{IMPORT_BUDGET_MS:g} ms over bare"),
                )
            )
    if rows and rows[0].value is not None:
        rows[0].note = (
            "CPU time (process_time) of import app + import boto3, fresh interpreter per run, warm "
            "bytecode, runs interleaved with the baseline's; baseline: import boto3 alone"
        )
    rows += layer_rows()
    return rows


def layer_rows() -> list[Row]:
    if not (BUILT_LAYER / "python").is_dir():
        reason = "no .aws-sam/build/DomainLayer: run `make build` (sam build) first"
        return [na(SUITE, "built layer size, unzipped", "MB", "Lambda limit", reason, "lower")]
    unzipped, zipped, files = layer_sizes(BUILT_LAYER)
    shadowing = [n for n in ("boto3", "botocore", "aws_xray_sdk") if (BUILT_LAYER / "python" / n).is_dir()]
    extra = f"; SHIPS {', '.join(shadowing)}" if shadowing else "; no boto3/botocore/X-Ray SDK in it"
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
            target=Target("value", "<=", LAYER_BUDGET_MB, f"<= {LAYER_BUDGET_MB:g} MB"),
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
