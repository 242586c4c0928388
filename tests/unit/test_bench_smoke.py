"""The bench's harness, ratio and printer logic on fake measurements (no timing is asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.__main__ import SUITES, run_suite  # noqa: E402
from bench.harness import (  # noqa: E402
    Config,
    Row,
    Sample,
    measure,
    measure_inner,
    na,
    ratio,
    render,
    write_json,
)


def test_sample_median_and_spread() -> None:
    sample = Sample((3.0, 1.0, 2.0))
    assert sample.median == 2.0
    assert sample.spread == 1.0  # (3 - 1) / 2


def test_measure_runs_warmup_then_repeat_with_run_indices() -> None:
    seen: list[int] = []
    sample = measure(seen.append, repeat=3, warmup=1)
    assert seen == [-1, 0, 1, 2]
    assert len(sample.values) == 3


def test_measure_inner_uses_the_seconds_the_function_reports() -> None:
    fake = {0: 4.0, 1: 1.0, 2: 2.0}
    assert measure_inner(lambda i: fake.get(i, 99.0), repeat=3, warmup=1).median == 2.0


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [(10.0, 5.0, 2.0), (5.0, 10.0, 0.5), (None, 1.0, None), (1.0, None, None), (1.0, 0.0, None)],
)
def test_ratio(value: float | None, baseline: float | None, expected: float | None) -> None:
    assert ratio(value, baseline) == expected


def test_advantage_follows_the_direction_of_better() -> None:
    faster = Row("s", "throughput", 200.0, "items/s", "peer", 100.0, better="higher")
    smaller = Row("s", "size", 25.0, "MB", "limit", 250.0, better="lower")
    slower = Row("s", "time", 4.0, "s", "peer", 2.0, better="lower")
    assert faster.ratio == 2.0 and faster.advantage == 2.0
    assert smaller.ratio == 0.1 and smaller.advantage == pytest.approx(10.0)
    assert slower.advantage == 0.5
    assert harness.fmt_advantage(slower) == "2.00x worse"
    assert harness.fmt_advantage(faster) == "2.00x better"


def test_render_one_table_with_na_rows_and_notes() -> None:
    rows = [
        Row("cdc", "records/s", 12_345.6, "records/s", "one object per change", 123.4, runs=3, note="fake"),
        na("replay", "items/s", "items/s", "dynamodump", "tool missing"),
    ]
    text = render(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| suite") and set(lines[1]) <= {"|", "-", " "}
    assert "12,346" in lines[2] and "100.05x better" in lines[2]
    assert "n/a (tool missing)" in lines[3]
    assert "- cdc / records/s: fake" in text
    assert len({len(line) for line in lines[:4]}) == 1  # aligned columns


def test_write_json_and_readme_block(tmp_path: Path) -> None:
    rows = [Row("v", "m", 2.0, "s", "b", 4.0, better="lower")]
    path = write_json(rows, tmp_path / "results" / "latest.json", {"quick": True})
    data = json.loads(path.read_text())
    assert data["meta"]["quick"] is True and "python" in data["meta"]
    assert data["rows"][0]["ratio"] == 0.5 and data["rows"][0]["advantage"] == 2.0
    readme = f"# x\n\n## Performance\n{harness.README_START}\nold\n{harness.README_END}\ntail\n"
    updated = harness.replace_readme_table(readme, "NEW", "header\n")
    assert "old" not in updated and "header\nNEW" in updated and updated.endswith("tail\n")


def test_a_failing_suite_becomes_one_na_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    broken = types.ModuleType("bench_broken")

    def run(config: Config) -> list[Row]:
        raise RuntimeError("interface changed")

    broken.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_broken", broken)
    rows = run_suite("broken", "bench_broken", Config(quick=True))
    assert len(rows) == 1 and rows[0].value is None and "interface changed" in rows[0].note


def test_every_suite_module_exposes_run() -> None:
    from importlib import import_module

    for _, module in SUITES:
        assert callable(import_module(module).run)


def test_config_sizes() -> None:
    assert Config(quick=True).size(10_000, 100) == 100
    assert Config().size(10_000, 100) == 10_000


def test_targets_are_checked_on_the_same_runs_measurements() -> None:
    from bench.harness import Target, target_summary

    faster = Row(
        "r", "replay", 300.0, "items/s", "dynamodump", 100.0, target=Target("advantage", ">=", 3, ">= 3x")
    )
    slower = Row(
        "r", "rebuild", 200.0, "items/s", "dynamodump", 100.0, target=Target("advantage", ">=", 3, ">= 3x")
    )
    imports = Row(
        "c", "import", 250.0, "ms", "bare", 140.0, better="lower", target=Target("excess", "<=", 100, "+100")
    )
    floor = Row(
        "v", "100M", 1100.0, "s", "floor", 1000.0, better="lower", target=Target("ratio", "<=", 1.25, "1.25x")
    )
    assert faster.target and faster.target.met(faster) is True and faster.verdict.startswith("met: 3.00x")
    assert slower.target and slower.target.met(slower) is False and slower.verdict.startswith("MISSED")
    assert imports.verdict.startswith("MISSED: +110 ms")
    assert floor.verdict.startswith("met: 1.10x")
    missing = na("r", "x", "items/s", "b", "tool missing")
    missing.target = Target("value", ">=", 1, ">= 1")
    assert missing.verdict.startswith("not measured")
    summary = target_summary([faster, slower, Row("x", "no target", 1.0, "s", "b", 1.0)])
    assert summary.count("\n- ") == 2 and "no target" not in summary
    assert "issue-16 target" in render([faster]).splitlines()[0]


def test_the_repair_bench_runs_the_real_lane_and_survives_throttling() -> None:
    from bench.repair import _apply

    seconds, written, throttles = _apply(300, capacity=300.0, asked=600.0)
    assert written == 300 and throttles > 0 and seconds > 0
