"""`make bench` / `python -m bench`: run every suite, print one table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from importlib import import_module

from bench.harness import (
    README_END,
    README_START,
    RESULTS,
    ROOT,
    Config,
    Row,
    na,
    render,
    replace_readme_table,
    target_summary,
    write_json,
)

# (name, module): one module per suite, run in this order.
SUITES: tuple[tuple[str, str], ...] = (
    ("cdc", "bench.cdc_archiver"),
    ("replay", "bench.replay_rebuild"),
    ("validation", "bench.validation"),
    ("cold-start", "bench.cold_start"),
    ("orchestration", "bench.orchestration"),
)


def run_suite(name: str, module_name: str, config: Config) -> list[Row]:
    """A suite that fails becomes one n/a row: the others still run and print."""
    try:
        runner: Callable[[Config], list[Row]] = import_module(module_name).run
        return runner(config)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return [na(name, "suite", "-", "-", f"{type(exc).__name__}: {exc}"[:160])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 repeat")
    parser.add_argument("--repeat", type=int, help="runs per median (default 5, --quick 1)")
    parser.add_argument(
        "--only", action="append", choices=[n for n, _ in SUITES], help="run only these suites"
    )
    parser.add_argument("--output", default=str(RESULTS / "latest.json"), help="JSON results file")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help=f"write the table into docs/performance.md between {README_START} and {README_END}",
    )
    args = parser.parse_args(argv)
    config = Config(quick=args.quick, repeat=args.repeat or (1 if args.quick else 5))
    load_before = os.getloadavg()
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for name, module in SUITES:
        if args.only and name not in args.only:
            continue
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        rows += run_suite(name, module, config)
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"bench: {name} done in {seconds[name]} s", file=sys.stderr, flush=True)
    load = (load_before[0], os.getloadavg()[0])  # others' work on a shared machine shows here
    table = render(rows)
    total = round(time.perf_counter() - started, 1)
    print(table)
    summary = target_summary(rows)
    if summary:
        print("\n" + summary)
    print(f"\nload {load[0]:.1f} at the start, {load[1]:.1f} at the end ({os.cpu_count()} CPUs)")
    meta = {
        "quick": config.quick,
        "repeat": config.repeat,
        "suite_seconds": seconds,
        "total_seconds": total,
        "load_average": load,
    }
    path = write_json(
        rows,
        ROOT / args.output if not args.output.startswith("/") else __import__("pathlib").Path(args.output),
        meta,
    )
    print(f"\nbench: {total} s in all; results in {path}", file=sys.stderr)
    if args.update_readme:
        readme = ROOT / "docs" / "performance.md"
        mode = "quick" if config.quick else f"median of {config.repeat}"
        header = (
            f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} ({mode}, {total:.0f} s in all, "
            f"load average {load[0]:.1f}-{load[1]:.1f} on {os.cpu_count()} CPUs):\n\n"
        )
        readme.write_text(replace_readme_table(readme.read_text(), table + "\n\n" + summary, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
