"""Fault injection on the export chain: throttling, 5xx, lost responses and denial either complete
correctly after retries or stop safely, with no export duplicated and no window lost."""

from __future__ import annotations

import itertools

import pytest
from export_support import Simulation, at, protect
from gates import report_gate

from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator import faults as f
from dynamodb_dr_local.emulator.exports import ExportEmulation
from dynamodb_dr_local.emulator.faults import FaultInjector

pytestmark = pytest.mark.integration


@pytest.fixture
def sim(emulator: Emulator, stack: DeployedStack, exports: ExportEmulation) -> Simulation:
    protect(emulator, exports, "customers")
    return Simulation(emulator, stack)


@pytest.mark.parametrize("kind", [f.THROTTLING, f.INTERNAL_SERVER_ERROR, f.SERVICE_UNAVAILABLE])
def test_transient_faults_on_starting_an_export_start_exactly_one(
    request: pytest.FixtureRequest, sim: Simulation, exports: ExportEmulation, kind: str
) -> None:
    with FaultInjector(seed=7) as faults:
        faults.add("dynamodb", "ExportTableToPointInTime", kind, times=2)
        payload, errored = sim.run("export-full", at(0))
    report_gate(request, f"faults: export start {kind}", faults.report().summary())
    assert not errored, payload
    assert faults.report().count("dynamodb", "ExportTableToPointInTime", kind) == 2
    assert len(exports.started) == 1
    assert [r.export_type for r in sim.chain()] == ["FULL"]


def test_a_lost_export_response_is_retried_with_the_same_client_token(
    request: pytest.FixtureRequest, sim: Simulation, exports: ExportEmulation
) -> None:
    with FaultInjector(seed=8) as faults:
        faults.add("dynamodb", "ExportTableToPointInTime", f.READ_TIMEOUT, times=1, applied=True)
        payload, errored = sim.run("export-full", at(0))
    report_gate(request, "faults: export start lost response", faults.report().summary())
    assert not errored, payload
    assert len({e.export_id for e in exports.started}) == 1, "the retry reused the ClientToken"
    assert len(sim.chain()) == 1


def test_denied_tracking_fails_the_tick_and_loses_no_window(
    request: pytest.FixtureRequest, sim: Simulation, exports: ExportEmulation
) -> None:
    sim.hours(0, 2)  # a FULL at 0, an incremental at 1
    exports.hold = True
    _, errored = sim.run("export-incremental", at(2))
    assert not errored
    before = {r.sk: r.status for r in sim.chain()}
    with FaultInjector(seed=9) as faults:
        faults.deny("dynamodb", "DescribeExport")
        payload, errored = sim.run("export-incremental", at(3))
    report_gate(request, "faults: export tracking denied", faults.report().summary())
    assert errored and payload["errorType"] == "ExportRunFailed"
    assert {r.sk: r.status for r in sim.chain()} == before, "nothing recorded on a failed tick"
    exports.hold = False
    exports.finish_held()
    for hour in (3, 4):
        _, errored = sim.run("export-incremental", at(hour))
        assert not errored
    incrementals = sorted(
        (r for r in sim.chain() if r.export_type == "INCREMENTAL"), key=lambda r: r.window_to
    )
    assert all(b.window_from == a.window_to for a, b in itertools.pairwise(incrementals))
    assert incrementals[0].window_from == at(0)
