"""`dynamodb-dr restore-from-s3` on the emulator: rebuilds equal the source at the chosen time.

Exports are produced by the real export function over simulated ticks (writes happen only between
ticks), so the table's content at each tick is known; the rebuild must reproduce it exactly, from
the right FULL export and the right incremental exports in the right order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from export_support import T0, Simulation, at, protect

from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

# One simulated history serves every test of this module (tests put back what they break).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("restore_from_s3")]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulation]:
    """Two and a bit days: FULL exports at 0 h, 24 h and 48 h, incremental windows of 2 h."""
    with Emulator() as emulator, ExportEmulation() as exports:
        create_customers_table(emulator.clients.client("dynamodb"), "customers")
        stack = emulator.deploy(parameters={"ProtectedTables": "customers"})
        protect(emulator, exports, "customers")
        simulation = Simulation(emulator, stack)
        simulation.hours(0, 56, step=2, snapshot=(30, 52))
        simulation.run("export-incremental", at(56))  # follows the last windows to COMPLETED
        yield simulation


def rebuild(sim: Simulation, target: str, when: Any, *extra: str) -> int:
    args = ["restore-from-s3", "--table", "customers", "--target", target, "--bucket", sim.bucket]
    return main([*args, "--at", when.isoformat(), "--poll-seconds", "0.01", *extra])


def exists(sim: Simulation, table: str) -> bool:
    return table in sim.emulator.clients.client("dynamodb").list_tables()["TableNames"]


def test_rebuild_equals_the_source_at_the_chosen_time_without_the_source(
    sim: Simulation, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.emulator.clients.client("dynamodb").delete_table(TableName="customers")  # the source is gone
    assert rebuild(sim, "customers-s3-52", at(52), "--no-cdc") == 0
    assert sim.scan("customers-s3-52") == sim.snapshots[at(52)]
    captured = capsys.readouterr()
    out = captured.out
    # The newest FULL at or before 52 h (48 h), then the windows 48-50 and 50-52, in that order
    # (progress lines, on stderr).
    assert "FULL export             : EXP#" in out and "(import," in out
    lines = [line for line in captured.err.splitlines() if "INCREMENTAL" in line]
    assert [line.split()[1] for line in lines] == [
        at(48).isoformat(),
        at(50).isoformat(),
    ]
    assert f"point in time reached   : {at(52).isoformat()}" in out


def test_rebuild_picks_the_newest_full_before_the_time_and_its_increments(
    sim: Simulation, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    report_file = tmp_path / "report.json"
    assert (
        rebuild(sim, "customers-s3-30", at(30), "--no-cdc", "--no-import", "--report", str(report_file)) == 0
    )
    assert sim.scan("customers-s3-30") == sim.snapshots[at(30)]
    import json

    report = json.loads(report_file.read_text())
    assert report["full_method"] == "batch"
    assert report["full_export"].startswith(f"EXP#{at(24).strftime('%Y%m%dT%H%M%SZ')}#FULL")
    windows = [sk.split("#")[1] for sk in report["incrementals"]]
    assert windows == [at(h).strftime("%Y%m%dT%H%M%SZ") for h in (26, 28, 30)]
    assert report["items"] == len(sim.snapshots[at(30)])


def test_a_time_inside_a_window_stops_at_the_last_export_and_says_so(
    sim: Simulation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rebuild(sim, "customers-s3-mid", at(53), "--no-cdc") == 0
    assert sim.scan("customers-s3-mid") == sim.snapshots[at(52)]
    out = capsys.readouterr().out
    assert f"point in time reached   : {at(52).isoformat()}" in out and "note:" in out


def test_a_time_before_the_first_full_export_is_refused(
    sim: Simulation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rebuild(sim, "customers-too-early", T0 - timedelta(hours=1)) == 2
    assert "no completed FULL export at or before" in capsys.readouterr().err
    assert not exists(sim, "customers-too-early")


def test_a_missing_bucket_is_a_clear_error(sim: Simulation, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "restore-from-s3",
            "--table",
            "customers",
            "--target",
            "x-s3",
            "--bucket",
            "no-such-bucket",
            "--at",
            at(10).isoformat(),
        ]
    )
    assert code == 2
    assert "bucket no-such-bucket does not exist" in capsys.readouterr().err


def test_malformed_chain_state_is_a_clear_error(sim: Simulation, capsys: pytest.CaptureFixture[str]) -> None:
    s3, key = sim.emulator.clients.client("s3"), "exports/customers/chain/EXP_broken.json"
    s3.put_object(Bucket=sim.bucket, Key=key, Body=b'{"logical_name": "customers"}')
    try:
        assert rebuild(sim, "customers-s3-bad", at(30)) == 2
    finally:
        s3.delete_object(Bucket=sim.bucket, Key=key)
    assert "ExportChainError: malformed chain record" in capsys.readouterr().err
    assert not exists(sim, "customers-s3-bad")


def test_an_existing_target_is_refused_and_left_alone(
    sim: Simulation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rebuild(sim, sim.stack.physical("StateTable"), at(30)) == 2
    assert "already exists" in capsys.readouterr().err
    assert exists(sim, sim.stack.physical("StateTable"))


@pytest.mark.parametrize("keep", [False, True])
def test_a_failure_midway_removes_the_partial_table_unless_kept(
    sim: Simulation, keep: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = sim.emulator.clients.client("s3")
    window = at(28).strftime("%Y%m%dT%H%M%SZ")
    listed = s3.list_objects_v2(Bucket=sim.bucket, Prefix=f"exports/customers/incremental/{window}")
    key = next(o["Key"] for o in listed["Contents"] if "/data/" in o["Key"])
    body = s3.get_object(Bucket=sim.bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=sim.bucket, Key=key)
    target = f"customers-s3-partial-{keep}".lower()
    extra = ("--no-cdc", "--keep-partial") if keep else ("--no-cdc",)
    try:
        assert rebuild(sim, target, at(30), *extra) == 1  # it started (created a table), then failed
    finally:
        s3.put_object(Bucket=sim.bucket, Key=key, Body=body)
    assert exists(sim, target) is keep
    err = capsys.readouterr()
    assert "NoSuchKey" in err.err or "does not exist" in err.err


def test_the_cdc_leg_claims_no_time_the_archive_cannot_prove(
    sim: Simulation, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    import json

    # The emulator's stream records carry real (not simulated) times, so the archive holds no
    # change after the last export (52 h): nothing proves 52 h .. 53 h complete.
    assert rebuild(sim, "customers-s3-cdc", at(53)) == 1
    err = capsys.readouterr().err
    assert "CdcCoverageIncomplete" in err and f"only up to {at(52).isoformat()}" in err
    assert not exists(sim, "customers-s3-cdc")  # no table claims success

    report_file = tmp_path / "report.json"
    assert rebuild(sim, "customers-s3-cdc", at(53), "--accept-partial", "--report", str(report_file)) == 0
    report = json.loads(report_file.read_text())
    assert report["partial"] is True and report["reached"] == at(52).isoformat()
    assert "PARTIAL" in capsys.readouterr().out
    assert sim.scan("customers-s3-cdc") == sim.snapshots[at(52)]


def test_the_cdc_leg_reaches_the_time_when_the_archive_holds_a_change_there(
    sim: Simulation, tmp_path: Any
) -> None:
    import json

    from dynamodb_dr.cdc.model import Change, plan_objects

    change = Change(
        table="customers",
        source_table="customers",
        stream_label="2026-01-01T00:00:00.000",
        event_id="e1",
        event_name="INSERT",
        sequence_number="1",
        approximate_creation=at(53),
        keys={"customer_id": {"S": "cdc-proof"}},
        new_image={"customer_id": {"S": "cdc-proof"}},
    )
    obj = plan_objects([change])[0]
    s3 = sim.emulator.clients.client("s3")
    s3.put_object(Bucket=sim.bucket, Key=obj.key, Body=obj.body())
    try:
        report_file = tmp_path / "report.json"
        assert rebuild(sim, "customers-s3-cdc53", at(53), "--report", str(report_file)) == 0
    finally:
        s3.delete_object(Bucket=sim.bucket, Key=obj.key)
    report = json.loads(report_file.read_text())
    assert report["reached"] == at(53).isoformat() and not report["partial"]
    assert sim.scan("customers-s3-cdc53") == {
        **sim.snapshots[at(52)],
        "cdc-proof": {"customer_id": "cdc-proof"},
    }


def test_help_lists_the_command() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["restore-from-s3", "--help"])
    assert exited.value.code == 0


def _full_data_file(sim: Simulation, hour: int) -> str:
    s3 = sim.emulator.clients.client("s3")
    window = at(hour).strftime("%Y%m%dT%H%M%SZ")
    listed = s3.list_objects_v2(Bucket=sim.bucket, Prefix=f"exports/customers/full/{window}")
    return next(o["Key"] for o in listed["Contents"] if "/data/" in o["Key"])


@pytest.mark.parametrize("method", [(), ("--no-import",)])
def test_a_full_export_missing_a_data_file_fails_and_leaves_no_table(
    sim: Simulation, method: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = sim.emulator.clients.client("s3")
    key = _full_data_file(sim, 48)
    body = s3.get_object(Bucket=sim.bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=sim.bucket, Key=key)
    target = f"customers-s3-nofile{len(method)}"
    try:
        assert rebuild(sim, target, at(52), "--no-cdc", *method) != 0
    finally:
        s3.put_object(Bucket=sim.bucket, Key=key, Body=body)
    err = capsys.readouterr().err
    assert "ExportManifestMismatch" in err or "NoSuchKey" in err
    assert not exists(sim, target)


def test_an_unlisted_file_in_the_data_folder_is_refused_before_the_import(
    sim: Simulation, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = sim.emulator.clients.client("s3")
    key = _full_data_file(sim, 48)
    stray = key.rsplit("/", 1)[0] + "/stray.json.gz"
    s3.put_object(Bucket=sim.bucket, Key=stray, Body=s3.get_object(Bucket=sim.bucket, Key=key)["Body"].read())
    try:
        assert rebuild(sim, "customers-s3-stray", at(52), "--no-cdc") != 0
    finally:
        s3.delete_object(Bucket=sim.bucket, Key=stray)
    err = capsys.readouterr().err
    assert "ExportManifestMismatch" in err and "unlisted" in err
    assert not exists(sim, "customers-s3-stray")


@pytest.mark.parametrize("method", [(), ("--no-import",)])
def test_a_data_file_that_differs_from_its_manifest_is_refused(
    sim: Simulation, method: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    s3 = sim.emulator.clients.client("s3")
    key = _full_data_file(sim, 48)
    body = s3.get_object(Bucket=sim.bucket, Key=key)["Body"].read()
    lines = gzip.decompress(body).splitlines(keepends=True)
    s3.put_object(Bucket=sim.bucket, Key=key, Body=gzip.compress(b"".join(lines[:-3])))  # 3 items gone
    target = f"customers-s3-short{len(method)}"
    try:
        assert rebuild(sim, target, at(52), "--no-cdc", *method) != 0
    finally:
        s3.put_object(Bucket=sim.bucket, Key=key, Body=body)
    err = capsys.readouterr().err
    assert "ExportManifestMismatch" in err and "MD5" in err
    assert not exists(sim, target)
