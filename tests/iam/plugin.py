"""pytest fixtures of the IAM gate: record for the whole session, fail the test whose calls IAM
would deny (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iam import gate as g


@pytest.fixture(scope="session")
def iam_gate_session() -> Iterator[g.Gate]:
    from dynamodb_dr_local.emulator.handlers import HandlerRouter
    from iam.calls import installed

    with installed(HandlerRouter) as gate:
        yield gate


@pytest.fixture(autouse=True)
def iam_gate(iam_gate_session: g.Gate, request: pytest.FixtureRequest) -> Iterator[g.Gate]:
    gate = iam_gate_session
    gate.reset()
    yield gate
    if request.node.get_closest_marker("iam_gate_off"):
        gate.reset()
        return
    problems = [str(v) for v in gate.violations] + [f"unmapped call {u}" for u in gate.unknown]
    gate.reset()
    if problems:
        unique = list(dict.fromkeys(problems))
        pytest.fail(
            f"IAM would deny {len(unique)} call(s) this test made:\n  " + "\n  ".join(unique[:40]),
            pytrace=False,
        )
