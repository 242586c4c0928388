"""Suite 3: the restore validation checksum over scanned pages, and what it means at 10M/100M items.

Measured in this process on one thread (= one core): our checksum (`restore.checksum`) over pages
of ~1 KB items as the low-level client returns them, against two baselines measured in the same
run: botocore parsing the same page from its JSON wire form (a cost every scanning Lambda pays
anyway, so the checksum's share of the validation time is visible). The projection reads the
Map concurrency from the ASL and the segments from the restore's own planner (restore/estimate.py).
CPU time (process_time): the machine is shared.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from bench.data import items
from bench.harness import ROOT, Config, Row, Target, measure_inner, na

SUITE = "validation"
ASL = ROOT / "statemachines" / "restore.asl.json"
TEMPLATE = ROOT / "template.yaml"
PAGE_BYTES = 1_000_000  # a Scan page is at most 1 MB

# Assumptions of the projection (stated in the row notes and the README).
PAGE_SECONDS = 0.2  # DynamoDB's answer to one 1 MB Scan page
INVOKE_SECONDS = 1.0  # a segment's Lambda re-invoked by the state machine's loop
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1,769 MB
CHECKSUM_TARGET = 100_000  # issue 16: items/s per core


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
        started = time.process_time()
        total = 0
        for page in pages:
            total = (total + sum(item_digest(i) for i in page)) % MODULUS
        return time.process_time() - started

    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    from botocore.parsers import create_parser

    parser = create_parser(model.metadata["protocol"])
    shape = model.operation_model("Scan").output_shape
    wire = [_wire_page(p) for p in pages]

    def parse(_: int) -> float:
        started = time.process_time()
        for body in wire:
            parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
        return time.process_time() - started

    digest = measure_inner(checksum, config.repeat, warmup=1)
    parsing = measure_inner(parse, config.repeat, warmup=1)
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
            target=Target("value", ">=", CHECKSUM_TARGET, ">= 100,000 items/s per core"),
            note=f"our checksum costs {digest.median / parsing.median:.0%} of the page-parse time; spread "
            f"{digest.spread:.0%}; CPU time, both sides warmed up",
        )
    ]
    rows += projections(ours, count / parsing.median)
    return rows


def projections(checksum_rate: float, parse_rate: float) -> list[Row]:
    """100M ~1 KB items, planned the way the restore plans it, against the read floor."""
    from dynamodb_dr.restore import estimate as est

    try:
        concurrency, state = map_concurrency()
    except (LookupError, OSError, ValueError) as exc:
        return [na(SUITE, "projected validation time", "s", "read floor", str(exc), "lower")]
    timeout = restore_function_setting("Timeout") or 900
    memory = restore_function_setting("MemorySize") or 1769
    vcpu = min(1.0, memory / LAMBDA_MB_PER_VCPU)  # Lambda CPU share grows with memory
    item_bytes = 1024
    items_per_page = PAGE_BYTES // item_bytes
    # One segment's loop: wait for a 1 MB page, parse it, checksum it (sequential, on vcpu).
    cpu_seconds = items_per_page / (parse_rate * vcpu) + items_per_page / (checksum_rate * vcpu)
    page_seconds = PAGE_SECONDS + cpu_seconds
    segment_rate = PAGE_BYTES / page_seconds  # bytes/s one segment sustains
    floor_rate = est.NEW_ON_DEMAND_READ_UNITS * est.SCAN_BYTES_PER_READ_UNIT
    rows = []
    for total in (100_000_000,):
        size = total * item_bytes
        segments = min(est.segments_for(size), concurrency)
        seconds = size / min(segments * segment_rate, floor_rate) + est.FIXED_OVERHEAD_SECONDS
        seconds += segments * (size / segments / segment_rate // (timeout - 20)) * INVOKE_SECONDS
        floor = size / floor_rate
        planned = est.estimate(
            {"t": {"TableSizeBytes": size, "ItemCount": total}},
            requested_segments=None,
            max_segments=400,
            rto_minutes=60,
        )
        rows.append(
            Row(
                SUITE,
                f"projected time to validate {total // 1_000_000}M 1 KB items ({segments} segments, planned)",
                seconds,
                "s",
                "floor: new on-demand table, 12,000 RRU/s = 98 MB/s Scan",
                floor,
                better="lower",
                target=Target("ratio", "<=", 1.25, "<= 1.25x the floor"),
                note=(
                    f"segments from restore/estimate.py for {size / 1e9:.0f} GB (Map '{state}' "
                    f"MaxConcurrency {concurrency}); per segment: a 1 MB page per "
                    f"{PAGE_SECONDS * 1000:.0f} ms plus parse "
                    f"({parse_rate:,.0f} items/s) and checksum ({checksum_rate:,.0f} items/s) measured here, "
                    f"on {memory} MB = {vcpu:.2f} vCPU -> {segment_rate / 1e6:.1f} MB/s per segment; floor: "
                    "AWS's documented initial throughput of a new on-demand table (12,000 read units/s; an "
                    "eventually consistent Scan reads 8 KB per unit); the plan's own estimate: "
                    f"{planned.seconds:,} s"
                ),
            )
        )
    return rows
