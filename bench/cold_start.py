"""Suite 4: cold start: import cost of every handler and the size of the built layer.

Import cost: CPU time of `import app` then `import boto3` in a fresh interpreter per run, median
of N, against a bare handler that imports only boto3 (issue 16: "count boto3 on both sides": our
handlers create their clients, and so import boto3, on first use). The interpreter sees what
Lambda's does, both sides alike: `python -I -S -B` with sys.path = the function's folder, the
layer as `sam build` (`make build`) left it and a runtime folder (boto3's stack, with its
bytecode, as in the runtime image), and no dev venv (its ~100 distributions would slow pydantic's
plugin lookup and hide unpinned imports). The layer's compiled extensions are arm64 builds: each
is replaced by this machine's build of the same pinned version; every other file is the shipped
one. `-B` as on Lambda, whose /opt is read-only: what the layer does not ship as bytecode is
compiled at every cold start, so a row compares the layer as shipped with the same modules as
source. CPU time (process_time), not wall time: other work on a shared machine inflates wall time
most; callgrind's instruction counts (deterministic) are added in the notes where valgrind runs.

Layer size: `.aws-sam/build/DomainLayer` unzipped and zipped (deflate), against issue 16's 10 MB
budget and Lambda's limits.
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
# What every handler pays before any code of ours: typed settings (pydantic: a model needs Field
# and ConfigDict too, which load most of pydantic) and Powertools wiring.
LIBRARY_FLOOR_HANDLER = (
    "import boto3\nfrom aws_lambda_powertools import Logger, Metrics\n"
    "from aws_lambda_powertools.metrics import MetricUnit\n"
    "from pydantic import BaseModel, ConfigDict, Field\n\n\n"
    "def lambda_handler(event, context):\n    return {}\n"
)
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
NO_LAYER = "no .aws-sam/build/DomainLayer: run `make build` (sam build) first"
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


def runtime_folder(tmp: Path) -> Path:
    """The runtime's boto3 stack (/var/runtime), bytecode included as in the runtime image."""
    runtime = tmp / "runtime"
    runtime.mkdir()
    for name in RUNTIME_SDK:
        _link_distribution(name, runtime)
    return runtime


def shipped_layer(tmp: Path) -> Path:
    """The built layer's files, its arm64 extensions swapped for this machine's builds."""
    layer = tmp / "layer"
    shutil.copytree(BUILT_LAYER / "python", layer, symlinks=True)
    for extension in layer.rglob("*.so"):
        module = extension.name.split(".")[0]
        package = importlib.import_module(extension.parent.name)
        native = list(Path(package.__file__ or "").parent.glob(f"{module}.*.so"))
        if not native:
            raise RuntimeError(f"no native build of {extension.parent.name}.{module} on this machine")
        extension.unlink()
        extension.with_name(native[0].name).symlink_to(native[0])
    return layer


def source_layer(tmp: Path) -> Path:
    """The same distributions and domain package as .py source, no bytecode: the layer before."""
    layer = tmp / "source-layer"
    layer.mkdir()
    linked = tmp / "source-links"
    linked.mkdir()
    no_cache = shutil.ignore_patterns("__pycache__")
    for line in (LAYER_SRC / "requirements.txt").read_text().splitlines():
        if line.split("#")[0].strip():
            _link_distribution(line.split("==")[0].strip(), linked)
    for entry in linked.iterdir():
        target = entry.resolve()
        if target.is_dir():
            shutil.copytree(target, layer / entry.name, ignore=no_cache)
        else:
            shutil.copy2(target, layer / entry.name)
    shutil.copytree(LAYER_SRC / "dynamodb_dr", layer / "dynamodb_dr", ignore=no_cache)
    return layer


@functools.cache
def template_environment() -> dict[str, str]:
    """The plain-text variables of template.yaml's Globals (what every function's Lambda sees)."""
    from dynamodb_dr_local.emulator.stack import load_sam_template

    variables = load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def _probe_environment() -> dict[str, str]:
    return {
        **template_environment(),
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }


def _probe_command(folder: Path, paths: list[Path]) -> list[str]:
    # -B: Lambda's /opt and /var/task are read-only, no bytecode is ever written there
    return [sys.executable, "-I", "-S", "-B", "-c", _PROBE, json.dumps([str(p) for p in [folder, *paths]])]


def _probe(
    folder: Path, paths: list[Path], wrapper: tuple[str, ...] = (), timeout: int = 120
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the probe in a fresh, isolated interpreter."""
    done = subprocess.run(
        [*wrapper, *_probe_command(folder, paths)],
        cwd=folder,
        env=_probe_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def import_seconds(folder: Path, paths: list[Path]) -> float:
    """CPU seconds of `import app; import boto3`."""
    code, out, err = _probe(folder, paths)
    if code:
        raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else "import failed")
    return float(out.strip().splitlines()[-1])


def instructions(folder: Path, paths: list[Path]) -> int | None:
    """Instructions executed by the same probe under callgrind: deterministic, unlike CPU time on
    a shared machine (None without valgrind)."""
    if shutil.which("valgrind") is None:
        return None
    callgrind = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
    code, _, err = _probe(folder, paths, callgrind, timeout=600)
    found = re.search(r"Collected : (\d+)", err)
    return int(found.group(1)) if code == 0 and found else None


def handlers() -> list[Path]:
    return sorted(p.parent for p in FUNCTIONS.glob("*/app.py"))


def layer_sizes(folder: Path) -> tuple[float, float, int]:
    """(unzipped MB, zipped MB, files) of a folder, zipped in memory like SAM's upload."""
    buffer = io.BytesIO()
    unzipped = files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                files += 1
                archive.write(path, path.relative_to(folder))
    return unzipped / 1e6, buffer.tell() / 1e6, files


def layer_is_stale() -> bool:
    """True when the built layer's domain package is not this checkout's (each shipped .pyc's
    header holds the hash of the source it was compiled from)."""
    import importlib.util

    built, source = BUILT_LAYER / "python" / "dynamodb_dr", LAYER_SRC / "dynamodb_dr"
    shipped = {p.relative_to(built).with_suffix(""): p.read_bytes()[8:16] for p in built.rglob("*.pyc")}
    current = {
        p.relative_to(source).with_suffix(""): importlib.util.source_hash(p.read_bytes())
        for p in source.rglob("*.py")
    }
    return shipped != current


def run(config: Config) -> list[Row]:
    if not (BUILT_LAYER / "python").is_dir():
        return [na(SUITE, "handler import time", "ms", "bare boto3 handler", NO_LAYER, "lower")]
    if layer_is_stale():
        reason = "the built layer is older than layers/dynamodb_dr: run `make build` (make bench does)"
        return [na(SUITE, "handler import time", "ms", "bare boto3 handler", reason, "lower")]
    runs = 1 if config.quick else max(5, config.repeat)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        runtime = runtime_folder(tmp)
        shipped, source = [shipped_layer(tmp), runtime], [source_layer(tmp), runtime]
        rows = import_rows(config, runs, tmp, shipped, source)
    return rows + layer_rows()


def import_rows(config: Config, runs: int, tmp: Path, shipped: list[Path], source: list[Path]) -> list[Row]:
    bare, floor = tmp / "bare", tmp / "library floor"
    for folder, text in ((bare, BARE_HANDLER), (floor, LIBRARY_FLOOR_HANDLER)):
        folder.mkdir()
        (folder / "app.py").write_text(text)
    folders = [bare, floor, *handlers()]
    samples: dict[Path, list[float]] = {f: [] for f in folders}
    failed: dict[Path, str] = {}
    for folder in folders:  # warm-up: page caches, both sides
        try:
            import_seconds(folder, shipped)
        except Exception as exc:
            failed[folder] = str(exc)[:120]
    if bare in failed:
        return [na(SUITE, "handler import time", "ms", "bare boto3 handler", failed[bare], "lower")]
    for _ in range(runs):  # interleaved, so drift in the machine's load hits both sides alike
        for folder in folders:
            if folder not in failed:
                samples[folder].append(import_seconds(folder, shipped))
    baseline = statistics.median(samples[bare])
    counted = {} if config.quick else {f: instructions(f, shipped) for f in folders if f not in failed}

    def counted_note(folder: Path) -> str:
        """The same excess in instructions, and in ms at the bare handler's instructions per ms."""
        mine, bare_count = counted.get(folder), counted.get(bare)
        if mine is None or bare_count is None:
            return ""
        excess = mine - bare_count
        at_rate = excess / (bare_count / (baseline * 1000))
        return f"callgrind: +{excess / 1e6:,.0f} M instr. over bare (~+{at_rate:.0f} ms at its rate)"

    def import_row(folder: Path, metric: str, note: str, target: Target | None = None) -> Row:
        if folder in failed:
            return na(SUITE, metric, "ms", "bare boto3 handler", failed[folder], "lower")
        median = statistics.median(samples[folder]) * 1000
        note = "; ".join(part for part in (note, counted_note(folder)) if part)
        return Row(SUITE, metric, median, "ms", "bare handler importing boto3", baseline * 1000,
                   better="lower", runs=runs, note=note, target=target)  # fmt: skip

    floor_note = (
        "no code of ours: the part of every handler's budget the libraries the guide requires "
        "(pydantic models, Powertools Logger/Metrics) take before our modules load"
    )
    budget = Target("excess", "<=", IMPORT_BUDGET_MS, f"<= +{IMPORT_BUDGET_MS:g} ms over bare")
    rows = [
        import_row(
            floor,
            "import pydantic (BaseModel, Field, ConfigDict), Powertools Logger/Metrics, boto3 "
            "(library floor)",
            floor_note,
        )
    ]
    rows += [import_row(f, f"import {f.name}/app.py + boto3, CPU", "", budget) for f in folders[2:]]
    handler_rows = [row for row in rows if row.target is not None]
    if handler_rows and handler_rows[0].value is not None:
        method = (
            "CPU time (process_time) of import app + import boto3, fresh `python -I -S -B` per run with "
            "Lambda's sys.path (function, the built layer, runtime's boto3), runs interleaved with the "
            "baseline's; baseline: import boto3 alone"
        )
        handler_rows[0].note = "; ".join(part for part in (method, handler_rows[0].note) if part)
    measured = {f: statistics.median(samples[f]) for f in folders[2:] if samples[f]}
    if measured:
        rows.append(bytecode_row(max(measured, key=lambda f: measured[f]), runs, shipped, source))
    return rows


def bytecode_row(folder: Path, runs: int, shipped: list[Path], source: list[Path]) -> Row:
    """The heaviest handler's import from the layer as shipped against the same layer as source."""
    metric = f"import {folder.name}/app.py + boto3, CPU, layer as shipped (bytecode)"
    baseline = "the same layer as .py source, compiled at every cold start (/opt is read-only)"
    try:
        import_seconds(folder, source)
        pairs = [(import_seconds(folder, shipped), import_seconds(folder, source)) for _ in range(runs)]
    except Exception as exc:
        return na(SUITE, metric, "ms", baseline, str(exc)[:120], "lower")
    return Row(
        SUITE,
        metric,
        statistics.median(p[0] for p in pairs) * 1000,
        "ms",
        baseline,
        statistics.median(p[1] for p in pairs) * 1000,
        better="lower",
        runs=runs,
        note="the layer used to ship .py: Lambda compiled pydantic, Powertools and ours at each cold start",
    )


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
