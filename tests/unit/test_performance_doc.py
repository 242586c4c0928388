"""docs/performance.md: its prose quotes only numbers its own (generated) table holds, and a past
run's results file re-renders to the same table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench.harness import README_END, README_START, Row, Target, from_json, render, to_json  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
# A ratio ("3.42x"), a rate ("40,054 records/s") or an import excess ("+87 ms") quoted in prose.
QUOTED = re.compile(r"(?<![\w.,])(~|about |\+)?(\d[\d,]*(?:\.\d+)?)(x\b| records/s| items/s| ms\b)")


def sections(text: str) -> tuple[str, str]:
    """(the generated table block, the prose after it)."""
    start, end = text.index(README_START), text.index(README_END)
    return text[start:end], text[end:]


def quoted(prose: str) -> list[tuple[str, str, str]]:
    return [(m.group(1) or "", m.group(2), m.group(3)) for m in QUOTED.finditer(prose)]


def test_the_prose_quotes_only_numbers_of_the_table() -> None:
    table, prose = sections(DOC.read_text())
    found = quoted(prose)
    assert found, "the prose should quote the measured numbers it discusses"
    for prefix, number, unit in found:
        assert prefix not in ("~", "about "), f"approximate {prefix}{number}{unit}: quote the table's value"
        shown = f"+{number} ms" if prefix == "+" else f"{number}{unit}" if unit == "x" else number
        assert shown in table, f"the prose says {prefix}{number}{unit}, the table does not"


@pytest.mark.parametrize(
    ("prose", "ok"),
    [
        ("replay is 3.42x faster", True),
        ("replay is ~10x faster", False),
        ("replay is 14.6x faster", False),
        ("the archiver does 40,054 records/s", True),
        ("imports cost +87 ms", True),
        ("imports cost +117 ms", False),
    ],
)
def test_the_check_catches_a_number_the_table_does_not_hold(prose: str, ok: bool) -> None:
    table = "| replay | 3.42x better | 40,054 | met: +87 ms (target <= +100 ms) |"

    def agrees() -> bool:
        for prefix, number, unit in quoted(prose):
            shown = f"+{number} ms" if prefix == "+" else f"{number}{unit}" if unit == "x" else number
            if prefix in ("~", "about ") or shown not in table:
                return False
        return True

    assert agrees() is ok


def test_a_results_file_renders_the_same_table_again() -> None:
    rows = [
        Row(
            "cdc",
            "records/s per core",
            40_054.0,
            "records/s",
            "peer",
            900.0,
            runs=5,
            note="n",
            target=Target("value", ">=", 40_000.0, ">= 40k records/s per core"),
        ),
        Row(
            "cold start",
            "import",
            180.0,
            "ms",
            "bare",
            95.0,
            better="lower",
            runs=5,
            target=Target("excess", "<=", 100.0, "<= +100 ms over bare"),
        ),
    ]
    again, meta = from_json(to_json(rows, {"repeat": 5}))
    assert render(again) == render(rows) and meta["repeat"] == 5
    assert [r.verdict for r in again] == [r.verdict for r in rows]
