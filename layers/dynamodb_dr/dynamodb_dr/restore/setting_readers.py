"""Reading a table's settings as normalized, table-name-free values, so a source and its restored
copy compare equal when they match. A setting whose API cannot be read is `Unknown`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.restore.models import SETTING_NAMES
from dynamodb_dr.restore.tables import TAG_PREFIX, RestoreTables

if TYPE_CHECKING:
    from types_boto3_application_autoscaling import ApplicationAutoScalingClient
    from types_boto3_application_autoscaling.type_defs import ScalableTargetTypeDef, ScalingPolicyTypeDef
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import MetricAlarmTypeDef
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_lambda import LambdaClient

NAME = "<table>"  # stands for the table's own name inside normalized values


@dataclass(frozen=True)
class Unknown:
    reason: str


class SettingReaders:
    """One reader per setting (SETTING_NAMES), through injected boto3 clients."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        autoscaling: ApplicationAutoScalingClient,
        cloudwatch: CloudWatchClient,
        lambda_client: LambdaClient | None = None,
        *,
        own_readers: tuple[str, ...] = (),
    ) -> None:
        self._ddb, self._aas, self._cw, self._lambda = dynamodb, autoscaling, cloudwatch, lambda_client
        self._own_readers = own_readers  # the tool's functions reading streams (the CDC archiver)
        self._readers: dict[str, Callable[[str], Any]] = {
            "billing_mode": lambda t: (
                self._table(t).get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
            ),
            "sse": self._sse,
            "indexes": self._indexes,
            "pitr": self._pitr,
            "stream": self._stream,
            "ttl": self._ttl,
            "tags": self._tags,
            "deletion_protection": lambda t: bool(self._table(t).get("DeletionProtectionEnabled", False)),
            "autoscaling": self._autoscaling,
            "contributor_insights": self._contributor_insights,
            "resource_policy": self._resource_policy,
            "kinesis_destinations": self._kinesis,
            "alarms": self._alarms,
            "stream_consumers": self._stream_consumers,
            "replicas": lambda t: sorted(r["RegionName"] for r in self._table(t).get("Replicas", [])),
            "on_demand_throughput": self._on_demand,
            "warm_throughput": self._warm,
        }
        assert tuple(self._readers) == SETTING_NAMES

    def read(self, table: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, reader in self._readers.items():
            try:
                with aws_errors(table=table):
                    values[name] = reader(table)
            except Exception as exc:
                values[name] = Unknown(f"{error_code(exc.__cause__ or exc)}: {str(exc)[:200]}")
        return values

    def _table(self, table: str) -> dict[str, Any]:
        return dict(self._ddb.describe_table(TableName=table)["Table"])

    def _sse(self, table: str) -> Any:
        sse = self._table(table).get("SSEDescription")
        if not sse or sse.get("Status") not in {"ENABLED", "UPDATING"}:
            return "AWS_OWNED"
        return {"type": sse.get("SSEType", "KMS"), "key": sse.get("KMSMasterKeyArn")}

    def _indexes(self, table: str) -> Any:
        described = self._table(table)
        return sorted(
            [kind, i["IndexName"], i["KeySchema"], i["Projection"]]
            for kind, key in (("gsi", "GlobalSecondaryIndexes"), ("lsi", "LocalSecondaryIndexes"))
            for i in described.get(key, [])
        )

    def _pitr(self, table: str) -> Any:
        pitr = self._ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"].get(
            "PointInTimeRecoveryDescription", {}
        )
        enabled = pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
        return {"enabled": enabled, "days": pitr.get("RecoveryPeriodInDays", 35) if enabled else None}

    def _stream(self, table: str) -> Any:
        spec = self._table(table).get("StreamSpecification") or {}
        return spec.get("StreamViewType") if spec.get("StreamEnabled") else None

    def _ttl(self, table: str) -> Any:
        ttl = self._ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        on = ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}
        return ttl.get("AttributeName") if on else None

    def _tags(self, table: str) -> Any:
        tags = RestoreTables(self._ddb).tags(table)
        return {k: v for k, v in tags.items() if not k.startswith((TAG_PREFIX, "aws:"))}

    def scalable_targets(self, table: str) -> Iterator[ScalableTargetTypeDef]:
        mine = autoscaling_ids(table)
        for page in self._aas.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="dynamodb"
        ):
            yield from (t for t in page.get("ScalableTargets", []) if mine(t["ResourceId"]))

    def scaling_policies(self, table: str) -> Iterator[ScalingPolicyTypeDef]:
        mine = autoscaling_ids(table)
        for page in self._aas.get_paginator("describe_scaling_policies").paginate(
            ServiceNamespace="dynamodb"
        ):
            yield from (p for p in page.get("ScalingPolicies", []) if mine(p["ResourceId"]))

    def _autoscaling(self, table: str) -> Any:
        return {
            "targets": sorted(
                [_strip(t["ResourceId"], table), t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]]
                for t in self.scalable_targets(table)
            ),
            "policies": sorted(
                [
                    _strip(p["ResourceId"], table),
                    p["ScalableDimension"],
                    p["PolicyType"],
                    json.dumps(
                        p.get("TargetTrackingScalingPolicyConfiguration", {}), sort_keys=True, default=str
                    ),
                ]
                for p in self.scaling_policies(table)
            ),
        }

    def _contributor_insights(self, table: str) -> Any:
        return self._ddb.describe_contributor_insights(TableName=table).get("ContributorInsightsStatus")

    def _resource_policy(self, table: str) -> Any:
        arn = self._table(table)["TableArn"]
        try:
            policy = self._ddb.get_resource_policy(ResourceArn=arn)["Policy"]
        except Exception as exc:
            if error_code(exc) == "PolicyNotFoundException":
                return None
            raise
        return json.loads(policy.replace(arn, NAME))

    def _kinesis(self, table: str) -> Any:
        destinations = self._ddb.describe_kinesis_streaming_destination(TableName=table)
        return sorted(
            d["StreamArn"]
            for d in destinations.get("KinesisDataStreamDestinations", [])
            if d.get("DestinationStatus") in {"ACTIVE", "ENABLING"}
        )

    def _stream_consumers(self, table: str) -> Any:
        """Functions reading the table's stream through event source mappings, but the tool's."""
        stream = self._table(table).get("LatestStreamArn")
        if not stream or self._lambda is None:
            return [] if not stream else Unknown("no Lambda client")
        pages = self._lambda.get_paginator("list_event_source_mappings").paginate(EventSourceArn=stream)
        functions = {
            str(m.get("FunctionArn", "")).rsplit(":", 1)[-1]
            for page in pages
            for m in page.get("EventSourceMappings", [])
            if m.get("State") not in {"Disabled", "Deleting"}
        }
        return sorted(functions - set(self._own_readers))

    def _on_demand(self, table: str) -> Any:
        described = self._table(table)
        limits = {"table": described.get("OnDemandThroughput")} if described.get("OnDemandThroughput") else {}
        for index in described.get("GlobalSecondaryIndexes", []):
            if index.get("OnDemandThroughput"):
                limits[index["IndexName"]] = index["OnDemandThroughput"]
        return limits or None

    def _warm(self, table: str) -> Any:
        warm = self._table(table).get("WarmThroughput") or {}
        if not warm.get("ReadUnitsPerSecond") and not warm.get("WriteUnitsPerSecond"):
            return None
        return {"read": warm.get("ReadUnitsPerSecond", 0), "write": warm.get("WriteUnitsPerSecond", 0)}

    def table_alarms(self, table: str) -> list[MetricAlarmTypeDef]:
        """The CloudWatch metric alarms on the table's AWS/DynamoDB metrics (autoscaling's excluded)."""
        return [
            alarm
            for page in self._cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
            for alarm in page.get("MetricAlarms", [])
            if alarm.get("Namespace") == "AWS/DynamoDB"
            and not _managed_by_autoscaling(alarm)
            and any(d["Name"] == "TableName" and d["Value"] == table for d in alarm.get("Dimensions", []))
        ]

    def _alarms(self, table: str) -> Any:
        return sorted(
            json.dumps(_alarm_shape(a, table), sort_keys=True, default=str) for a in self.table_alarms(table)
        )


ALARM_FIELDS = {
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
}


def _managed_by_autoscaling(alarm: MetricAlarmTypeDef) -> bool:
    """Target-tracking policies own their alarms; re-applying the policy recreates them."""
    return str(alarm.get("AlarmName", "")).startswith("TargetTracking-") or str(
        alarm.get("AlarmDescription", "")
    ).startswith("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy")


def _alarm_shape(alarm: MetricAlarmTypeDef, table: str) -> dict[str, Any]:
    shape: dict[str, Any] = {k: v for k, v in alarm.items() if k in ALARM_FIELDS}
    shape["Dimensions"] = sorted(
        (d["Name"], NAME if d["Name"] == "TableName" and d["Value"] == table else d["Value"])
        for d in alarm.get("Dimensions", [])
    )
    return shape


def autoscaling_ids(table: str) -> Callable[[str], bool]:
    return lambda resource_id: (
        resource_id == f"table/{table}" or resource_id.startswith(f"table/{table}/index/")
    )


def _strip(resource_id: str, table: str) -> str:
    return resource_id.replace(f"table/{table}", f"table/{NAME}", 1)
