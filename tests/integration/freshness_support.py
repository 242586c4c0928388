"""Helpers for the CDC freshness tests: run the follower and the posture function, read their
metrics, deliver the stream through an emulated mapping, and let time pass for the writes."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import invoke, load_event

from dynamodb_dr.cdc.model import read_object
from dynamodb_dr_local.emulator import ACCOUNT_ID, DeployedStack, Emulator
from dynamodb_dr_local.emulator.mappings import MappingDelivery
from dynamodb_dr_local.emulator.pitr import ENABLED_ATTR
from dynamodb_dr_local.emulator.time_travel import let_time_pass

__all__ = ["let_time_pass"]  # re-exported for the tests


def emf(emulator: Emulator) -> dict[tuple[str, ...], dict[str, Any]]:
    """The EMF documents of the latest invocation, by their non-service dimension values."""
    docs: dict[tuple[str, ...], dict[str, Any]] = {}
    for line in emulator.router.invocations[-1].logs.splitlines():
        if '"_aws"' in line:
            doc = json.loads(line)
            dims = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            docs[tuple(doc[d] for d in dims if d != "service")] = doc
    return docs


def follow(emulator: Emulator, stack: DeployedStack) -> tuple[dict[str, Any], bool, dict[str, Any]]:
    """Run the stream follower: (its report or error, errored, its function-level metrics)."""
    payload, errored = invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    return payload, errored, emf(emulator)[()]


def posture(emulator: Emulator, stack: DeployedStack) -> tuple[dict[str, Any], dict[tuple[str, ...], Any]]:
    payload, errored = invoke(
        emulator, stack.physical("PostureFunction"), load_event("scheduler-posture.json")
    )
    assert not errored, payload
    return payload, emf(emulator)


def cdc_of(report: dict[str, Any], table: str = "customers") -> dict[str, Any]:
    found = next(t for t in report["tables"] if t["logical_name"] == table)
    return dict(found["cdc"])


def risk_codes(report: dict[str, Any], table: str = "customers") -> list[str]:
    return [risk.split(":", 1)[0] for risk in cdc_of(report, table)["risks"]]


def mapping_of(emulator: Emulator, stack: DeployedStack, table: str) -> dict[str, Any]:
    """The archiver's mapping on the table's latest stream."""
    stream = emulator.clients.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    listed = emulator.clients.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical("CdcArchiverFunction")
    )["EventSourceMappings"]
    return next(dict(m) for m in listed if m["EventSourceArn"] == stream)


def delivery(emulator: Emulator, stack: DeployedStack, table: str = "customers") -> MappingDelivery:
    return MappingDelivery(emulator, str(mapping_of(emulator, stack, table)["UUID"]))


def enable_pitr(emulator: Emulator, table: str = "customers", hours_ago: float = 2) -> None:
    from moto.dynamodb.models import dynamodb_backends

    emulator.clients.client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    moto_table = dynamodb_backends[ACCOUNT_ID][emulator.region].tables[table]
    moto_table.__dict__[ENABLED_ATTR] = time.time() - hours_ago * 3600


def write(emulator: Emulator, table: str, count: int, prefix: str = "c") -> list[str]:
    resource = emulator.clients.session_resource("dynamodb").Table(table)
    keys = [f"{prefix}{n}" for n in range(count)]
    for key in keys:
        resource.put_item(Item={"customer_id": key, "email": f"{key}@example.com"})
    return keys


def archived(emulator: Emulator, stack: DeployedStack, table: str = "customers") -> list[Any]:
    """Every change archived for the logical table, in key order (duplicates kept: they count)."""
    s3, bucket = emulator.clients.client("s3"), stack.outputs["ArchiveBucketName"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"cdc/table={table}/")
    keys = sorted(
        o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".jsonl.gz")
    )
    return [c for key in keys for c in read_object(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key)]
