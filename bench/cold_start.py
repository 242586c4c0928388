"""Suite 4: cold start: import cost of every handler and the size of the built layer.

Import cost: CPU time of `import app` then `import boto3` in a fresh interpreter per run, median
of N, against a bare handler that imports only boto3 (issue 16: "count boto3 on both sides": our
handlers create their clients, and so import boto3, on first use). The interpreter sees what
Lambda's does, both sides alike: `python -I -S` with sys.path = the function's folder, a layer
folder (the domain package and the distributions pinned in the layer's requirements.txt, this
machine's builds of the same versions) and a runtime folder (boto3's stack), and no dev venv
(its ~100 distributions would slow pydantic's plugin lookup and hide unpinned imports). CPU time
(process_time), not wall time: other work on a shared machine inflates wall time most. Bytecode
is cached (a warm-up import first), as for the runtime's own boto3.

Layer size: `.aws-sam/build/DomainLayer` as `sam build` (`make build`) left it, unzipped and
zipped (deflate), against issue 16's 10 MB budget and Lambda's limits.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import json
import os
import re
import shutil
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
# What every handler pays before any code of ours: typed settings (pydantic) and Powertools wiring.
LIBRARY_FLOOR_HANDLER = (
    "import boto3\nfrom aws_lambda_powertools import Logger, Metrics\nfrom pydantic import BaseModel\n\n\n"
    "def lambda_handler(event, context):\n    return {}\n"
)
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
_PROBE = (
    "import sys, json, time, importlib; sys.path[:0] = json.loads(sys.argv[1]); "
    "t = time.process_time(); importlib.import_module('app'); "
    "importlib.import_module('boto3'); print(time.process_time() - t)"
)


def _link_distribution(name: str, into: Path) -> None:
    """Symlink a distribution's top-level modules and its .dist-info folder into `into`."""
    dist = importlib.metadata.distribution(name)
    for top in {Path(str(f)).parts[0] for f in dist.files or ()}:
        source = Path(str(dist.locate_file(top)))
        if top not in ("..", "bin", "__pycache__") and source.exists() and not (into / top).exists():
            (into / top).symlink_to(source)


def lambda_paths(tmp: Path) -> list[Path]:
    """[layer, runtime] folders as Lambda's sys.path has them (/opt/python, /var/runtime)."""
    layer, runtime = tmp / "layer", tmp / "runtime"
    layer.mkdir()
    runtime.mkdir()
    pins = (LAYER_SRC / "requirements.txt").read_text().splitlines()
    for line in pins:
        if line.split("#")[0].strip():
            _link_distribution(line.split("==")[0].strip(), layer)
    (layer / "dynamodb_dr").symlink_to(LAYER_SRC / "dynamodb_dr")
    for name in RUNTIME_SDK:
        _link_distribution(name, runtime)
    return [layer, runtime]


@functools.cache
def template_environment() -> dict[str, str]:
    """The plain-text variables of template.yaml's Globals (what every function's Lambda sees)."""
    from dynamodb_dr_local.emulator.stack import load_sam_template

    variables = load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def import_seconds(folder: Path, paths: list[Path]) -> float:
    """CPU seconds of `import app; import boto3` in a fresh, isolated interpreter."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, json.dumps([str(p) for p in [folder, *paths]])],
        cwd=folder,
        env=_probe_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed")
    return float(done.stdout.strip().splitlines()[-1])


def _probe_environment() -> dict[str, str]:
    return {
        **template_environment(),
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }  # no PYTHONDONTWRITEBYTECODE: bytecode cached after the first import


def instructions(folder: Path, paths: list[Path]) -> int | None:
    """Instructions executed by the same probe under callgrind: deterministic, unlike CPU time on
    a shared machine (None without valgrind)."""
    if shutil.which("valgrind") is None:
        return None
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-I",
            "-S",
            "-c",
            _PROBE,
            json.dumps([str(p) for p in [folder, *paths]]),
        ],
        cwd=folder,
        env=_probe_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if done.returncode == 0 and found else None


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
        paths = lambda_paths(Path(tmp))
        bare = Path(tmp) / "bare"
        bare.mkdir()
        (bare / "app.py").write_text(BARE_HANDLER)
        floor = Path(tmp) / "library floor"
        floor.mkdir()
        (floor / "app.py").write_text(LIBRARY_FLOOR_HANDLER)
        folders = [bare, floor, *handlers()]
        samples: dict[Path, list[float]] = {f: [] for f in folders}
        failed: dict[Path, str] = {}
        for folder in folders:  # warm-up: bytecode and page caches, both sides
            try:
                import_seconds(folder, paths)
            except Exception as exc:
                failed[folder] = str(exc)[:120]
        if bare in failed:
            return [na(SUITE, "handler import time", "ms", "bare boto3 handler", failed[bare], "lower")]
        for _ in range(runs):  # interleaved, so drift in the machine's load hits both sides alike
            for folder in folders:
                if folder not in failed:
                    samples[folder].append(import_seconds(folder, paths))
        baseline = statistics.median(samples[bare])
        counted = {} if config.quick else {f: instructions(f, paths) for f in folders if f not in failed}

        def counted_note(folder: Path) -> str:
            """The same excess in instructions, and in ms at the bare handler's instructions per ms."""
            mine, bare_count = counted.get(folder), counted.get(bare)
            if mine is None or bare_count is None:
                return ""
            excess = mine - bare_count
            at_rate = excess / (bare_count / (baseline * 1000))
            return f"callgrind: +{excess / 1e6:,.0f} M instr. over bare (~+{at_rate:.0f} ms at its rate)"

        if floor not in failed:
            rows.append(
                Row(
                    SUITE,
                    "import pydantic BaseModel + Powertools Logger/Metrics + boto3, CPU (library floor)",
                    statistics.median(samples[floor]) * 1000,
                    "ms",
                    "bare handler importing boto3",
                    baseline * 1000,
                    better="lower",
                    runs=runs,
                    note=(
                        "no code of ours: the part of every handler's budget the libraries the guide "
                        "requires (pydantic models, Powertools Logger/Metrics) take before our modules load; "
                        + counted_note(floor)
                    ).rstrip("; "),
                )
            )
        for folder in folders[2:]:
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
                    note=counted_note(folder),
                    target=Target("excess", "<=", IMPORT_BUDGET_MS, f"<= +{IMPORT_BUDGET_MS:g} ms over bare"),
                )
            )
    handler_rows = [row for row in rows if row.target is not None]
    if handler_rows and handler_rows[0].value is not None:
        handler_rows[0].note = "; ".join(
            part
            for part in (
                "CPU time (process_time) of import app + import boto3, fresh `python -I -S` per run with "
                "Lambda's sys.path (function, layer's pinned packages, runtime's boto3), warm bytecode, "
                "runs interleaved with the baseline's; baseline: import boto3 alone",
                handler_rows[0].note,
            )
            if part
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
