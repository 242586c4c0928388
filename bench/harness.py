"""Shared bench machinery: median-of-N timing, same-run ratios, one table, JSON results.

Every row compares a measurement of ours with a baseline measured in the SAME run (never a number
from another machine or another day), so noise from a shared machine mostly cancels out.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README_START = "<!-- bench:table:start -->"
README_END = "<!-- bench:table:end -->"

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Sample:
    """N timings (seconds) of one measured operation."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the N runs were."""
        return (max(self.values) - min(self.values)) / self.median if self.median else 0.0


def measure(fn: Callable[[int], object], repeat: int = 3, warmup: int = 0) -> Sample:
    """Run fn(i) warmup + repeat times; time each measured run with perf_counter.

    fn gets the run index (so it can use fresh names/buckets per run). Setup that must not be
    timed belongs outside fn, or in a fn that returns its own timed seconds (see measure_inner).
    """
    for i in range(warmup):
        fn(-1 - i)
    values = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        values.append(time.perf_counter() - started)
    return Sample(tuple(values))


def measure_inner(fn: Callable[[int], float], repeat: int = 3, warmup: int = 0) -> Sample:
    """Like measure(), but fn returns the seconds to count (it times its own critical section)."""
    for i in range(warmup):
        fn(-1 - i)
    return Sample(tuple(float(fn(i)) for i in range(repeat)))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """ours / baseline, or None when either side is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


TargetOf = Literal["value", "advantage", "ratio", "excess"]


@dataclass(frozen=True)
class Target:
    """An issue-16 target, checked on the row's measurement of this same run.

    of: "value" (ours), "advantage" (times better than the baseline) or "excess" (ours minus the
    baseline); op ">=" or "<=" against threshold.
    """

    of: TargetOf
    op: Literal[">=", "<="]
    threshold: float
    label: str  # e.g. ">= 3x dynamodump"

    def measured(self, row: Row) -> float | None:
        if self.of == "value":
            return row.value
        if self.of == "advantage":
            return row.advantage
        if self.of == "ratio":
            return row.ratio
        if row.value is None or row.baseline_value is None:
            return None
        return row.value - row.baseline_value

    def met(self, row: Row) -> bool | None:
        got = self.measured(row)
        if got is None:
            return None
        return got >= self.threshold if self.op == ">=" else got <= self.threshold


@dataclass
class Row:
    suite: str
    metric: str
    value: float | None  # ours; None = not measured (see note)
    unit: str
    baseline: str  # what we compare with
    baseline_value: float | None
    better: Better = "higher"
    runs: int = 0  # N of the median (0 = computed, not timed)
    note: str = ""
    target: Target | None = None
    ratio: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ratio = ratio(self.value, self.baseline_value)

    @property
    def verdict(self) -> str:
        """The target check, e.g. "met: 3.42x >= 3x dynamodump" ("" without a target)."""
        if self.target is None:
            return ""
        got, met = self.target.measured(self), self.target.met(self)
        if got is None or met is None:
            return f"not measured ({self.target.label})"
        shown = f"{got:.2f}x" if self.target.of in ("advantage", "ratio") else f"{fmt(got)} {self.unit}"
        if self.target.of == "excess":
            shown = f"+{fmt(got)} {self.unit}" if got >= 0 else f"{fmt(got)} {self.unit}"
        return f"{'met' if met else 'MISSED'}: {shown} (target {self.target.label})"

    @property
    def advantage(self) -> float | None:
        """How many times better ours is than the baseline (>1 = ours better), whatever the unit."""
        if self.ratio is None or self.ratio == 0:
            return None
        return self.ratio if self.better == "higher" else 1 / self.ratio


def na(suite: str, metric: str, unit: str, baseline: str, reason: str, better: Better = "higher") -> Row:
    """A row that could not be measured: printed as n/a (reason), never fails the bench."""
    return Row(suite, metric, None, unit, baseline, None, better, note=f"n/a ({reason})")


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude == 0:
        return "0"
    return f"{value:.3g}"


def fmt_advantage(row: Row) -> str:
    adv = row.advantage
    if adv is None:
        return "n/a"
    word = "better" if adv >= 1 else "worse"
    shown = adv if adv >= 1 else 1 / adv
    return f"{shown:.2f}x {word}"


HEADERS = (
    "suite",
    "metric",
    "ours",
    "unit",
    "baseline (same run)",
    "baseline",
    "ours/baseline",
    "verdict",
    "N",
    "issue-16 target",
)


def table_rows(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for row in rows:
        ours = fmt(row.value) if row.value is not None else (row.note or "n/a")
        out.append(
            (
                row.suite,
                row.metric,
                ours,
                row.unit,
                row.baseline,
                fmt(row.baseline_value),
                "n/a" if row.ratio is None else f"{row.ratio:.3g}",
                fmt_advantage(row),
                str(row.runs) if row.runs else "-",
                row.verdict or "-",
            )
        )
    return out


def target_summary(rows: Sequence[Row]) -> str:
    """Each target next to its value measured in this run, one line each."""
    lines = ["Issue 16 targets, measured in this run:"]
    for row in rows:
        if row.target is not None:
            lines.append(f"- {row.suite} / {row.metric}: {row.verdict}")
    return "\n".join(lines) if len(lines) > 1 else ""


def render(rows: Sequence[Row]) -> str:
    """One Markdown table (readable in a terminal, pasteable into the README), then the notes."""
    body = table_rows(rows)
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body]
    notes = [(i, row.note) for i, row in enumerate(rows, 1) if row.note and row.value is not None]
    if notes:
        lines.append("")
        lines += [f"- {rows[i - 1].suite} / {rows[i - 1].metric}: {note}" for i, note in notes]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    import os

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def to_json(rows: Sequence[Row], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "meta": {**environment(), **(meta or {})},
        "rows": [
            {
                **asdict(row),
                "advantage": row.advantage,
                "target_met": row.target.met(row) if row.target else None,
                "verdict_text": row.verdict,
            }
            for row in rows
        ],
    }


def from_json(data: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The rows and meta of a results file written by write_json (to re-render a past run)."""
    rows = []
    for saved in data["rows"]:
        fields = {
            k: v for k, v in saved.items() if k not in ("ratio", "advantage", "target_met", "verdict_text")
        }
        target = fields.pop("target", None)
        rows.append(Row(**fields, target=Target(**target) if target else None))
    return rows, dict(data.get("meta", {}))


def write_json(rows: Sequence[Row], path: Path, meta: dict[str, Any] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(rows, meta), indent=2, default=str) + "\n")
    return path


def replace_readme_table(readme: str, table: str, header: str = "") -> str:
    """Swap the text between the bench markers of the README (which must both be present)."""
    start, end = readme.index(README_START), readme.index(README_END)
    block = f"{README_START}\n{header}{table}\n{README_END}"
    return readme[:start] + block + readme[end + len(README_END) :]


@dataclass(frozen=True)
class Config:
    """Run sizes: `quick` is a smoke run (minutes matter more than precision)."""

    quick: bool = False
    repeat: int = 5

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full
