"""Retention and readers on the deployed emulator stack: the export function tags what no restore
point within ExportRetentionDays needs (and nothing else), the lifecycle expires only that and the
CDC archive, and the bucket policy lets only the tool's and the reader roles read."""

from __future__ import annotations

import fnmatch
import json
import random
from typing import Any

import pytest
from export_support import Simulation, at, protect

from dynamodb_dr.exports.expiry import EXPIRY_TAG
from dynamodb_dr_local.cli import main
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.exports import ExportEmulation

pytestmark = pytest.mark.integration
READER = "arn:aws:iam::123456789012:role/analysts"


def _objects(sim: Simulation, prefix: str) -> list[str]:
    s3 = sim.emulator.clients.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=sim.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _tagged(sim: Simulation, key: str) -> bool:
    tags = sim.emulator.clients.client("s3").get_object_tagging(Bucket=sim.bucket, Key=key)["TagSet"]
    return EXPIRY_TAG in tags


def test_exports_expire_only_when_no_restore_point_in_retention_needs_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Emulator() as emulator, ExportEmulation() as exports:
        create_customers_table(emulator.clients.client("dynamodb"), "customers")
        stack = emulator.deploy(parameters={"ProtectedTables": "customers", "ExportRetentionDays": "2"})
        protect(emulator, exports, "customers", items=10)
        sim = Simulation(emulator, stack, rng=random.Random(3))
        sim.hours(0, 97, step=8, snapshot=(56, 88))  # FULL exports at 0, 24, 48, 72 and 96 h
        sim.run("export-incremental", at(97))

        # The FULL tick at 96 h: horizon 48 h, served by the FULL export of 48 h.
        chain = sim.chain()
        marked = {r.sk for r in chain if r.expiry_marked_at is not None}
        expected = {
            r.sk
            for r in chain
            if r.window_to < at(48) or (r.export_type == "INCREMENTAL" and r.window_to <= at(48))
        }
        assert marked == expected and marked
        for record in chain:
            keys = _objects(sim, record.s3_prefix + "/")
            assert keys, record.sk
            assert all(_tagged(sim, k) == (record.sk in marked) for k in keys), record.sk

        # Per-table metric series only for what happened (the posture check sends the ages).
        exporter = stack.physical("ExportFunction")
        runs = [i for i in emulator.router.invocations if i.function_name == exporter]
        assert len(runs) > 10
        per_table = [
            json.loads(line)
            for i in runs
            for line in i.logs.splitlines()
            if '"_aws"' in line and '"Table"' in line
        ]
        assert per_table == []  # no failures, no gaps: nothing per table

        # What the lifecycle rule does with them: tagged objects expire, nothing else.
        rules = emulator.clients.client("s3").get_bucket_lifecycle_configuration(Bucket=sim.bucket)["Rules"]
        rule = next(r for r in rules if r["ID"] == "ExpireExportsNoRestorePointNeeds")
        assert rule["Filter"]["And"] == {"Prefix": "exports/", "Tags": [EXPIRY_TAG]}
        s3 = emulator.clients.client("s3")
        for key in _objects(sim, "exports/"):
            if _tagged(sim, key):
                s3.delete_object(Bucket=sim.bucket, Key=key)

        # Every restore point within the retention still rebuilds exactly.
        for hour in (56, 88):
            target = f"customers-s3-{hour}"
            args = ["restore-from-s3", "--table", "customers", "--target", target, "--bucket", sim.bucket]
            code = main([*args, "--at", at(hour).isoformat(), "--poll-seconds", "0.01", "--no-cdc"])
            assert code == 0, capsys.readouterr().err
            assert sim.scan(target) == sim.snapshots[at(hour)]


def _denied(policy: dict[str, Any], principal: str, action: str) -> bool:
    """Whether an explicit Deny of the bucket policy applies to `principal` (ArnNotLike only)."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] != "Deny" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        condition = statement.get("Condition", {})
        if "ArnNotLike" in condition:
            allowed = condition["ArnNotLike"]["aws:PrincipalArn"]
            allowed = allowed if isinstance(allowed, list) else [allowed]
            if not any(fnmatch.fnmatchcase(principal, a) for a in allowed):
                return True
    return False


def test_only_the_tool_roles_and_named_readers_may_read_the_archive() -> None:
    with Emulator() as emulator:
        create_customers_table(emulator.clients.client("dynamodb"), "customers")
        stack = emulator.deploy(parameters={"ProtectedTables": "customers", "ArchiveReaderRoleArns": READER})
        bucket = stack.outputs["ArchiveBucketName"]
        policy = json.loads(emulator.clients.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
        iam = emulator.clients.client("iam")

        def role(logical: str) -> str:
            return str(iam.get_role(RoleName=stack.physical(logical))["Role"]["Arn"])

        for reader in (
            role("CdcArchiverFunctionRole"),
            role("RestoreFunctionRole"),
            role("RepairFunctionRole"),
            role("PostureFunctionRole"),  # the archive's freshness: the newest cdc/ objects
            READER,
        ):
            assert not _denied(policy, reader, "s3:GetObject"), reader
        for other in (
            role("BackupFunctionRole"),
            role("ExportFunctionRole"),
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::999999999999:role/outsider",
        ):
            assert _denied(policy, other, "s3:GetObject"), other
            assert _denied(policy, other, "s3:GetObjectVersion"), other
            assert not _denied(policy, other, "s3:ListBucket")  # listing shows no data
        rules = {
            r["ID"]: r
            for r in emulator.clients.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        }
        assert (
            rules["Expiration"]["Filter"] == {"Prefix": "cdc/"}
            and rules["Expiration"]["Expiration"]["Days"] == 90
        )
        assert rules["Expiration"]["Status"] == "Enabled"
        assert rules["Transition"]["Transitions"][0] == {"Days": 30, "StorageClass": "GLACIER_IR"}
