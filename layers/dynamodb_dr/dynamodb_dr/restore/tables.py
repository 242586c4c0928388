"""DynamoDB table operations of a restore: windows, restores, status, clean-up."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import AwsCallFailed, LimitExceeded, RestoreRequestInvalid, TableNotFound

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

TAG_PREFIX = "dynamodb-dr:"
TAG_EXECUTION = f"{TAG_PREFIX}restore-execution"
TAG_SOURCE = f"{TAG_PREFIX}restored-from"
TAG_POINT = f"{TAG_PREFIX}restore-point"
TAG_STATUS = f"{TAG_PREFIX}restore-status"


class RestoreTables:
    def __init__(self, dynamodb: DynamoDBClient) -> None:
        self._ddb = dynamodb

    def describe(self, table: str) -> dict[str, Any]:
        with aws_errors(table=table):
            return dict(self._ddb.describe_table(TableName=table)["Table"])

    def exists(self, table: str) -> bool:
        try:
            self.describe(table)
        except TableNotFound:
            return False
        return True

    def restorable_window(self, table: str) -> tuple[datetime, datetime] | None:
        with aws_errors(table=table):
            described = self._ddb.describe_continuous_backups(TableName=table)
        pitr = described["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            return None
        return pitr["EarliestRestorableDateTime"], pitr["LatestRestorableDateTime"]

    def start_restore(self, source: str, target: str, restore_time: datetime, tags: dict[str, str]) -> str:
        """Start a restore matching the source's billing mode, indexes and encryption.

        Call it only with a target name this execution has reserved (ownership.py): a retried
        call that finds the table already restored from the same source and point in time (its
        own earlier request) returns "already-started".
        """
        description = self.describe(source)
        request: Any = {
            "SourceTableName": source,
            "TargetTableName": target,
            "RestoreDateTime": restore_time,
            **restore_overrides(description),
        }
        try:
            with aws_errors(table=target):
                self._ddb.restore_table_to_point_in_time(**request)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) not in {
                "TableAlreadyExistsException",
                "ResourceInUseException",
            }:
                raise
            if not self.restored_from(target, description["TableArn"], restore_time):
                raise RestoreRequestInvalid(
                    f"target table {target} already exists and is not this restore", table=target
                ) from exc
            self.try_tag(target, tags)
            return "already-started"
        self.try_tag(target, tags)
        return "started"

    def restored_from(self, target: str, source_arn: str, restore_time: datetime) -> bool:
        """Whether `target` is a restore of `source_arn` to `restore_time` (its RestoreSummary)."""
        summary = self.describe(target).get("RestoreSummary") or {}
        when = summary.get("RestoreDateTime")
        return (
            summary.get("SourceTableArn") == source_arn
            and isinstance(when, datetime)
            and abs((when - restore_time).total_seconds()) < 1
        )

    def created_by(self, target: str, execution: str) -> bool:
        """Whether `target`'s tags name `execution`: the only proof clean-up accepts."""
        try:
            return self.tags(target).get(TAG_EXECUTION) == execution
        except AwsCallFailed:
            return False

    def try_tag(self, table: str, tags: dict[str, str]) -> bool:
        """Tag now if the table accepts it (a CREATING table may not); callers tag again later."""
        try:
            self.tag(table, tags)
        except (AwsCallFailed, LimitExceeded):
            return False
        return True

    def wait_active(self, table: str, timeout_seconds: float = 120, interval: float = 5) -> bool:
        """Wait (bounded) until an update such as a stream change has finished."""
        deadline = time.monotonic() + timeout_seconds
        while True:  # by hand: the table_exists waiter checks the table's status, not its indexes'
            status, indexes = self.status(table)
            if status == "ACTIVE" and all(s == "ACTIVE" for s in indexes.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def status(self, table: str) -> tuple[str, dict[str, str]]:
        """(table status, {index name: status})."""
        description = self.describe(table)
        indexes = {
            i["IndexName"]: i.get("IndexStatus", "ACTIVE")
            for i in description.get("GlobalSecondaryIndexes", [])
        }
        return description["TableStatus"], indexes

    def tags(self, table: str) -> dict[str, str]:
        arn = self.describe(table)["TableArn"]
        tags: dict[str, str] = {}
        with aws_errors(table=table):
            for page in self._ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn):
                tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        return tags

    def tag(self, table: str, tags: dict[str, str]) -> None:
        arn = self.describe(table)["TableArn"]
        with aws_errors(table=table):
            self._ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def delete(self, table: str) -> None:
        with aws_errors(table=table):
            if self.describe(table).get("DeletionProtectionEnabled"):
                self._ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
            self._ddb.delete_table(TableName=table)


def restore_overrides(source: dict[str, Any]) -> dict[str, Any]:
    """Restore parameters that make the new table match its source."""
    overrides: dict[str, Any] = {}
    billing = source.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    overrides["BillingModeOverride"] = billing
    if billing == "PROVISIONED":
        throughput = source.get("ProvisionedThroughput", {})
        overrides["ProvisionedThroughputOverride"] = {
            "ReadCapacityUnits": throughput.get("ReadCapacityUnits", 1),
            "WriteCapacityUnits": throughput.get("WriteCapacityUnits", 1),
        }
    if billing == "PAY_PER_REQUEST" and source.get("OnDemandThroughput"):
        overrides["OnDemandThroughputOverride"] = source["OnDemandThroughput"]
    gsis = [_index(i, billing) for i in source.get("GlobalSecondaryIndexes", [])]
    if gsis:
        overrides["GlobalSecondaryIndexOverride"] = gsis
    lsis = [_index(i, None) for i in source.get("LocalSecondaryIndexes", [])]
    if lsis:
        overrides["LocalSecondaryIndexOverride"] = lsis
    sse = source.get("SSEDescription")
    if sse and sse.get("Status") in {"ENABLED", "UPDATING"}:
        overrides["SSESpecificationOverride"] = {
            "Enabled": True,
            "SSEType": sse.get("SSEType", "KMS"),
            **({"KMSMasterKeyId": sse["KMSMasterKeyArn"]} if sse.get("KMSMasterKeyArn") else {}),
        }
    return overrides


def _index(index: dict[str, Any], billing: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index["Projection"],
    }
    if billing == "PAY_PER_REQUEST" and index.get("OnDemandThroughput"):
        result["OnDemandThroughput"] = index["OnDemandThroughput"]
    if billing == "PROVISIONED":
        throughput = index.get("ProvisionedThroughput", {})
        result["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput.get("ReadCapacityUnits", 1),
            "WriteCapacityUnits": throughput.get("WriteCapacityUnits", 1),
        }
    return result
