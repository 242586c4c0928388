"""Gate reports: one line per security/reliability gate, printed at the end of the test run.

Tests call `report_gate(request, "checkov", "42 passed, 0 failed, 3 skipped")`; the line travels
with the test report (`user_properties`, which pytest-xdist sends back to the controller), and the
`pytest_terminal_summary` hook in tests/conftest.py prints every gate line under one heading.
"""

from __future__ import annotations

from typing import Any

GATE_PROPERTY = "dynamodb-dr-gate"


def report_gate(request_or_node: Any, gate: str, line: str) -> None:
    node = getattr(request_or_node, "node", request_or_node)
    node.user_properties.append((GATE_PROPERTY, f"{gate}: {line}"))


def write_gate_summary(terminalreporter: Any) -> None:
    seen: set[str] = set()
    lines: list[str] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()) or ():
                if name != GATE_PROPERTY or value in seen:
                    continue
                seen.add(value)
                lines.append(f"{value}  [{getattr(report, 'nodeid', '?')}]")
    if not lines:
        return
    terminalreporter.write_sep("=", "dynamodb-dr security and reliability gates")
    for line in sorted(lines):
        terminalreporter.write_line(line)
