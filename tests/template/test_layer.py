"""The built layer (`sam build` output, .aws-sam/build/DomainLayer) as Lambda will unpack it to /opt.

`make test` builds it before pytest; run alone, the fixture builds it (or rebuilds a stale one).
Lambda puts /opt/python ahead of the runtime's boto3 on sys.path, so anything of boto3's stack in
the layer would silently replace the runtime's: these tests fail if the layer ships any of it, the
X-Ray SDK, an unpinned or missing dependency, or grows past its 10 MB budget.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest

from dynamodb_dr_local import PROJECT_ROOT

pytestmark = pytest.mark.xdist_group("built_layer")  # one worker builds it, not two at once

LAYER_SRC = PROJECT_ROOT / "layers" / "dynamodb_dr"
BUILT = PROJECT_ROOT / ".aws-sam" / "build" / "DomainLayer" / "python"
BUDGET_BYTES = 10_000_000  # issue 16: the layer <= 10 MB unzipped
# The Lambda runtime's AWS SDK and its dependencies: never in the layer (they would shadow it).
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
RUNTIME_TOP_LEVEL = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
NOT_WANTED = {"aws-xray-sdk", "wrapt"}  # the X-Ray SDK and its dependency
# The magic number of CPython 3.13's bytecode (all 3.13.x); flags 1 = hash-based, unchecked.
PY313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    out = {}
    for raw in (LAYER_SRC / "requirements.txt").read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            match = _PIN.match(line)
            assert match, f"requirements.txt: every line must pin one exact version, got {line!r}"
            out[canonical(match.group(1))] = match.group(2)
    return out


def distributions(root: Path) -> dict[str, tuple[str, Path]]:
    """name -> (version, dist-info folder) of every distribution installed in root."""
    found = {}
    for info in root.glob("*.dist-info"):
        meta = Parser().parsestr((info / "METADATA").read_text())
        found[canonical(meta["Name"])] = (meta["Version"], info)
    return found


def source_hashes(folder: Path) -> dict[str, bytes]:
    """module path -> importlib's source hash of each .py below folder."""
    return {
        str(path.relative_to(folder).with_suffix("")): importlib.util.source_hash(path.read_bytes())
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def bytecode_headers(folder: Path) -> dict[str, tuple[bytes, int, bytes]]:
    """module path -> (magic number, flags, source hash) of each shipped .pyc below folder."""
    headers = {}
    for path in sorted(folder.rglob("*.pyc")):
        head = path.read_bytes()[:16]
        headers[str(path.relative_to(folder).with_suffix(""))] = (
            head[:4],
            int.from_bytes(head[4:8], "little"),
            head[8:16],
        )
    return headers


def shipped_sources(folder: Path) -> dict[str, bytes]:
    """module path -> the source hash each shipped .pyc was compiled from."""
    return {module: source for module, (_, _, source) in bytecode_headers(folder).items()}


def _stale() -> str:
    if not BUILT.is_dir():
        return "not built"
    if shipped_sources(BUILT / "dynamodb_dr") != source_hashes(LAYER_SRC / "dynamodb_dr"):
        return "dynamodb_dr differs from the source"
    if {n: v for n, (v, _) in distributions(BUILT).items()} != pins():
        return "distributions differ from requirements.txt"
    return ""


@pytest.fixture(scope="module")
def layer() -> Path:
    reason = _stale()
    if reason:
        done = subprocess.run(
            ["make", "build"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode:
            pytest.fail(f"`make build` failed ({reason}):\n{(done.stdout + done.stderr)[-2000:]}")
    return BUILT


def test_layer_ships_none_of_the_runtime_sdk_nor_the_xray_sdk(layer: Path) -> None:
    top_level = {p.name.removesuffix(".py") for p in layer.iterdir() if not p.name.endswith(".dist-info")}
    assert not top_level & RUNTIME_TOP_LEVEL, f"shadows the runtime's SDK: {top_level & RUNTIME_TOP_LEVEL}"
    assert not top_level & {"aws_xray_sdk", "wrapt"}
    names = set(distributions(layer))
    assert not names & (RUNTIME_SDK | NOT_WANTED), names & (RUNTIME_SDK | NOT_WANTED)
    # nothing hides deeper either (a vendored copy inside another package)
    assert not list(layer.rglob("botocore/__init__.py")) and not list(layer.rglob("boto3/__init__.py"))


def test_layer_holds_exactly_the_pinned_distributions(layer: Path) -> None:
    assert {n: v for n, (v, _) in distributions(layer).items()} == pins()
    # the domain package is this checkout's, module for module (each .pyc names its source's hash)
    assert shipped_sources(layer / "dynamodb_dr") == source_hashes(LAYER_SRC / "dynamodb_dr")


def test_every_dependency_of_the_layer_is_in_the_layer_or_the_runtime(layer: Path) -> None:
    """--no-deps installs exactly requirements.txt: a dependency missing from it fails here."""
    present = set(distributions(layer)) | RUNTIME_SDK
    missing = []
    for name, (_, info) in distributions(layer).items():
        meta = Parser().parsestr((info / "METADATA").read_text())
        for requirement in meta.get_all("Requires-Dist") or []:
            spec, _, marker = requirement.partition(";")
            if "extra ==" in marker or "python_version < " in marker.replace('"', " "):
                continue
            dependency = canonical(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0])
            if dependency not in present:
                missing.append(f"{name} needs {dependency}")
    assert not missing


def test_layer_fits_its_size_budget(layer: Path) -> None:
    size = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file())
    assert size <= BUDGET_BYTES, f"layer is {size / 1e6:.2f} MB unzipped, budget {BUDGET_BYTES / 1e6:g} MB"


def test_layer_ships_python_3_13_bytecode_and_no_source(layer: Path) -> None:
    """/opt is read-only on Lambda: a .py there is compiled again at every cold start."""
    assert not list(layer.rglob("*.py")), "source shipped: compiled at every cold start"
    assert not list(layer.rglob("__pycache__")), "__pycache__ bytecode is checked against a source"
    headers = bytecode_headers(layer)
    assert len(headers) > 300, "expected the whole layer as bytecode"
    wrong = {m: head[:2] for m, head in headers.items() if head[:2] != (PY313_MAGIC, 1)}
    assert not wrong, f"not python3.13 unchecked-hash bytecode: {dict(list(wrong.items())[:5])}"
    assert not (layer / "pydantic" / "v1").exists() and not (layer / "pydantic" / "mypy.pyc").exists()


def _runtime_dir(layer: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(native, runtime): this machine's builds of the layer's compiled packages (the layer's are
    arm64; same pinned versions in the dev venv) and the runtime's boto3 stack."""
    import importlib

    import boto3

    native, runtime = tmp_path / "native", tmp_path / "runtime"
    native.mkdir()
    runtime.mkdir()
    compiled = {p.relative_to(layer).parts[0] for p in layer.rglob("*.so")}
    assert compiled, "expected compiled packages (pydantic_core, orjson) in the layer"
    for package in compiled:
        (native / package).symlink_to(Path(importlib.import_module(package).__file__ or "").parent)
    site = Path(boto3.__file__).parent.parent
    for name in RUNTIME_TOP_LEVEL:
        source = site / name if (site / name).exists() else site / f"{name}.py"
        assert source.exists(), name
        (runtime / source.name).symlink_to(source)
    return native, runtime


_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
app = importlib.import_module("app")
assert callable(app.lambda_handler)
import boto3
print(json.dumps({
    "files": sorted({str(getattr(m, "__file__", "") or "") for m in list(sys.modules.values())}),
    "modules": sorted(sys.modules),
    "handler_names": sorted(vars(app)),
}))
"""


@pytest.mark.parametrize("function", sorted(p.parent.name for p in PROJECT_ROOT.glob("functions/*/app.py")))
def test_every_handler_imports_from_the_built_layer_without_the_xray_sdk(
    layer: Path, function: str, tmp_path: Path
) -> None:
    """A fresh interpreter without site-packages: function code, the layer, the runtime's boto3 only."""
    native, runtime = _runtime_dir(layer, tmp_path)
    folder = PROJECT_ROOT / "functions" / function
    paths = [str(folder), str(native), str(layer), str(runtime)]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _PROBE, json.dumps(paths)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout)
    stdlib = Path(os.__file__).parent
    allowed = [folder, native, layer, runtime, stdlib]
    outside = [
        f
        for f in loaded["files"]
        if f and not any(Path(f).is_relative_to(a) for a in allowed) and "lib-dynload" not in f
    ]
    assert not outside, f"modules loaded from outside the function, layer and runtime: {outside[:5]}"
    compiled_now = [f for f in loaded["files"] if f and Path(f).is_relative_to(layer) and f.endswith(".py")]
    assert not compiled_now, f"layer modules compiled from source at import: {compiled_now[:5]}"
    assert any(f.endswith(".pyc") and Path(f).is_relative_to(layer) for f in loaded["files"])
    assert not [m for m in loaded["modules"] if m.startswith(("aws_xray_sdk", "wrapt"))]
    # No Powertools Tracer: it would record handler responses (scan continuation keys) in traces.
    assert "tracer" not in loaded["handler_names"] and "Tracer" not in loaded["handler_names"]
