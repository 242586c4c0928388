"""Issue 14 item 2: the export chain follows the live table through a cutover; a rebuild after
it never replays the old (corrupted) table's history.

Timeline (simulated hours): FULL + incrementals of `customers`; at 5 h a corruption hits
`customers`; at 6 h the restore's table `customers-dr-r` (content as of 4 h) becomes live; the
old table keeps taking late writes (more corruption). A rebuild at 10 h must equal the
restored table at 10 h.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import tag_as_restore_of
from export_support import Simulation, at, protect

from dynamodb_dr.cdc.timeline import timeline_record
from dynamodb_dr.core.paths import live_table_parameter, stack_prefix
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

pytestmark = pytest.mark.integration
RESTORED = "customers-dr-r"


def corrupt(sim: Simulation, table: str, count: int) -> set[str]:
    resource = sim.resource().Table(table)
    keys = sorted(sim.scan(table))[:count]
    for key in keys:
        resource.update_item(
            Key={"customer_id": key},
            UpdateExpression="SET balance = :b, corrupted = :c",
            ExpressionAttributeValues={":b": Decimal(-1), ":c": True},
        )
    return set(keys)


def test_a_cutover_restarts_the_chain_on_the_new_table_and_a_rebuild_never_mixes_them(
    emulator: Emulator, stack: DeployedStack, exports: ExportEmulation, capsys: pytest.CaptureFixture[str]
) -> None:
    protect(emulator, exports, "customers")
    sim = Simulation(emulator, stack)
    sim.hours(0, 5, step=2)  # FULL at 0 h, incrementals at 0, 2, 4 h
    clean = sim.scan()
    sim.run("export-incremental", at(5))
    corrupt(sim, "customers", 9)

    # The restore: a new table with the content of 4 h, PITR on, then the pointer switch.
    create_customers_table(emulator.clients.client("dynamodb"), RESTORED)
    tag_as_restore_of(emulator, RESTORED, "customers")  # as the restore tags the tables it creates
    with sim.resource().Table(RESTORED).batch_writer() as writer:
        for item in clean.values():
            writer.put_item(Item=item)
    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName=RESTORED, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    exports.set_earliest_restorable(RESTORED, at(3))  # its window reaches back before the chain's end
    parameter = live_table_parameter(stack_prefix(stack.name), "customers")
    ssm = emulator.clients.client("ssm")
    ssm.put_parameter(Name=parameter, Value=RESTORED, Type="String", Overwrite=True)
    # The live-table history as the follower records it, in the simulation's clock.
    key, body = timeline_record("customers", at(5.5), RESTORED, 2)
    emulator.clients.client("s3").put_object(Bucket=sim.bucket, Key=key, Body=body)

    payload, errored = sim.run("export-incremental", at(6))
    assert not errored, payload
    result = sim.table_result(payload, "customers")
    assert result["live_table"] == RESTORED and result["gap"] is True
    assert result["action"] == "started-full"
    gap = sim.store().gaps("customers")[-1]
    assert "live table changed from customers to customers-dr-r" in gap.reason

    sim.table = RESTORED  # the application writes to the new live table now...
    for hour in (7, 8, 9):
        sim.mutate()
        corrupt(sim, "customers", 3)  # ...while the old table still takes late (corrupt) writes
        assert not sim.run("export-incremental", at(hour))[1]
    sim.mutate()
    assert not sim.run("export-incremental", at(10))[1]
    expected = sim.scan(RESTORED)
    assert not sim.run("export-incremental", at(11))[1]  # follows the 10 h window to COMPLETED

    chain = sim.chain("customers")
    after = [r for r in chain if r.window_to > at(5) and r.status == "COMPLETED"]
    assert after and {r.physical_table for r in after} == {RESTORED}
    assert next(r for r in after if r.export_type == "FULL").base

    args = ["restore-from-s3", "--table", "customers", "--target", "customers-s3-10", "--bucket", sim.bucket]
    assert main([*args, "--at", at(10).isoformat(), "--poll-seconds", "0.01", "--no-cdc"]) == 0
    rebuilt = sim.scan("customers-s3-10")
    assert rebuilt == expected
    assert not any(item.get("corrupted") for item in rebuilt.values())

    # A time after the cutover but before the new table's first FULL export has no valid base.
    code = main(
        [*args[:-2], "--target", "customers-s3-55", "--bucket", sim.bucket, "--at", at(5.5).isoformat()]
    )
    assert code == 2  # refused while planning: nothing was created
    assert "no completed FULL export of customers-dr-r" in capsys.readouterr().err
