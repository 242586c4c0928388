"""Suite 3: the restore validation checksum over scanned pages, and what it means at 10M/100M items.

Measured in this process on one thread (= one core): our checksum (`restore.checksum`) over pages
of ~1 KB items as the low-level client returns them, against two baselines measured in the same
run: botocore parsing the same page from its JSON wire form (a cost every scanning Lambda pays
anyway, so the checksum's share of the validation time is visible). The projection reads the
Map concurrency and the default segments from the ASL and the request model, not from this file.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from bench.data import items
from bench.harness import ROOT, Config, Row, measure_inner, na

SUITE = "validation"
ASL = ROOT / "statemachines" / "restore.asl.json"
TEMPLATE = ROOT / "template.yaml"
PAGE_BYTES = 1_000_000  # a Scan page is at most 1 MB

# Assumptions of the projection (stated in the row notes and the README).
SCAN_MB_PER_S_PER_SEGMENT = 5.0  # one segment's sequential Scan: ~1 MB page per ~200 ms round trip
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1,769 MB


def map_concurrency() -> tuple[int, str]:
    """MaxConcurrency of the Map state that scans segments, read from the ASL."""
    definition = json.loads(ASL.read_text())
    found: list[tuple[int, str]] = []

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state.get("Type") == "Map":
                inner = (state.get("ItemProcessor") or state.get("Iterator") or {}).get("States", {})
                if any("scan_segment" in json.dumps(s) for s in inner.values()):
                    found.append((int(state.get("MaxConcurrency", 0)), name))
                walk(inner)
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(definition["States"])
    if not found:
        raise LookupError("no Map state running scan_segment in the restore ASL")
    return found[0]


def default_segments() -> tuple[int, int | None]:
    """(default, maximum) of validation.segments in the restore request model."""
    from dynamodb_dr.restore.models import ValidationThresholds

    field = ValidationThresholds.model_fields["segments"]
    maximum = next((int(m.le) for m in field.metadata if getattr(m, "le", None) is not None), None)
    return int(field.default), maximum


def restore_function_setting(name: str) -> int | None:
    """Timeout / MemorySize of RestoreFunction in template.yaml (plain text: no YAML tags needed)."""
    text = TEMPLATE.read_text()
    match = re.search(rf"\n  RestoreFunction:\n(?:    .*\n|\n)*?      {name}: (\d+)", text)
    return int(match.group(1)) if match else None


def _wire_page(page: list[dict[str, Any]]) -> bytes:
    import base64

    def enc(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        raise TypeError(type(value))

    return json.dumps({"Items": page, "Count": len(page), "ScannedCount": len(page)}, default=enc).encode()


def run(config: Config) -> list[Row]:
    try:
        from dynamodb_dr.restore.checksum import MODULUS, item_digest
    except ImportError as exc:
        return [na(SUITE, "checksum items/s per core", "items/s", "count only", f"checksum missing: {exc}")]
    count = config.size(10_000, 3_000)
    data = items(count, seed=3)
    page_items = max(1, PAGE_BYTES // len(json.dumps(data[0])))
    pages = [data[i : i + page_items] for i in range(0, count, page_items)]

    def checksum(_: int) -> float:
        started = time.perf_counter()
        total = 0
        for page in pages:
            total = (total + sum(item_digest(i) for i in page)) % MODULUS
        return time.perf_counter() - started

    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    from botocore.parsers import create_parser

    parser = create_parser(model.metadata["protocol"])
    shape = model.operation_model("Scan").output_shape
    wire = [_wire_page(p) for p in pages]

    def parse(_: int) -> float:
        started = time.perf_counter()
        for body in wire:
            parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
        return time.perf_counter() - started

    digest = measure_inner(checksum, config.repeat, warmup=1)
    parsing = measure_inner(parse, config.repeat)
    ours = count / digest.median
    rows = [
        Row(
            SUITE,
            f"checksum items/s per core ({count:,} ~1 KB items, {page_items}-item pages)",
            ours,
            "items/s",
            "botocore parsing the same Scan pages",
            count / parsing.median,
            runs=config.repeat,
            note=f"our checksum costs {digest.median / parsing.median:.0%} of the page-parse time; spread "
            f"{digest.spread:.0%}",
        )
    ]
    rows += projections(ours, count / parsing.median)
    return rows


def projections(checksum_rate: float, parse_rate: float) -> list[Row]:
    try:
        concurrency, state = map_concurrency()
    except (LookupError, OSError, ValueError) as exc:
        return [na(SUITE, "projected validation time", "s", "scan-bound", str(exc), "lower")]
    try:
        segments, max_segments = default_segments()
    except Exception:  # the request model moved: project at the Map's concurrency only
        segments, max_segments = concurrency, None
    widest = min(concurrency, max_segments or concurrency)
    timeout = restore_function_setting("Timeout") or 900
    memory = restore_function_setting("MemorySize") or 1769
    vcpu = min(1.0, memory / LAMBDA_MB_PER_VCPU)  # Lambda CPU share grows with memory
    checksum_rate, parse_rate = checksum_rate * vcpu, parse_rate * vcpu
    item_kb = 1.0
    scan_rate = SCAN_MB_PER_S_PER_SEGMENT * 1000 / item_kb  # items/s one segment can read
    # Per segment, one Lambda does: wait for the page, parse it, checksum it (sequential).
    per_item = 1 / scan_rate + 1 / parse_rate + 1 / checksum_rate
    per_item_scan_only = 1 / scan_rate + 1 / parse_rate

    def formula(parallel: int) -> str:
        return (
            f"= N x (1/{scan_rate:,.0f} scan + 1/{parse_rate:,.0f} parse + 1/{checksum_rate:,.0f} checksum)"
            f" / {parallel} parallel segments; Map '{state}' MaxConcurrency {concurrency} from the ASL,"
            f" default segments {segments} (max {max_segments}) from the request model;"
            f" assumes {SCAN_MB_PER_S_PER_SEGMENT:g} MB/s"
            f" per segment (1 MB page per ~200 ms), 1 KB items, {memory} MB Lambda = {vcpu:.2f} vCPU"
            " (CPU rates measured here scaled by it), on-demand table not throttled; a segment re-invokes"
            f" its Lambda every {timeout - 20} s (timeout minus the 20 s reserve)"
        )

    rows = []
    first = True
    for total in (10_000_000, 100_000_000):
        for parallel, label in (
            (min(segments, concurrency), f"default {segments} segments"),
            (widest, f"{widest} segments = Map MaxConcurrency"),
        ):
            seconds = total * per_item / parallel
            baseline = total * per_item_scan_only / parallel
            invocations = parallel * max(1, -(-seconds // (timeout - 20)))
            rows.append(
                Row(
                    SUITE,
                    f"projected time to validate {total // 1_000_000}M items ({label})",
                    seconds,
                    "s",
                    "the same scan without checksum",
                    baseline,
                    better="lower",
                    note=formula(parallel)
                    if first
                    else f"~{invocations:.0f} Lambda invocations of <= {timeout - 20} s",
                )
            )
            first = False
    return rows
