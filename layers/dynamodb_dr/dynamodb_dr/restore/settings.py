"""What a restore drops: read each setting on source and restored table, re-apply, diff.

Every setting has a reader (a normalized, table-name-free value, or Unknown when the API cannot
be read) and an applier. Re-applying is per setting: one failure is recorded, not fatal; the diff
that follows decides whether the run may continue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.restore.models import SETTING_NAMES
from dynamodb_dr.restore.tables import TAG_PREFIX, RestoreTables

NAME = "<table>"


@dataclass(frozen=True)
class Unknown:
    reason: str


@dataclass(frozen=True)
class SettingResult:
    setting: str
    status: str  # applied | unchanged | failed | not-verifiable
    detail: str = ""


class TableSettings:
    """Reads and writes one table's settings through injected boto3 clients."""

    def __init__(self, dynamodb: Any, autoscaling: Any, cloudwatch: Any) -> None:
        self._ddb, self._aas, self._cw = dynamodb, autoscaling, cloudwatch
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
        }
        assert tuple(self._readers) == SETTING_NAMES

    # ------------------------------------------------------------------ reading
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
        tags = RestoreTables(self._ddb).tags(table)  # paginated
        return {k: v for k, v in tags.items() if not k.startswith((TAG_PREFIX, "aws:"))}

    def _autoscaling(self, table: str) -> Any:
        targets = self._aas.describe_scalable_targets(ServiceNamespace="dynamodb").get("ScalableTargets", [])
        policies = self._aas.describe_scaling_policies(ServiceNamespace="dynamodb").get("ScalingPolicies", [])
        mine = _autoscaling_ids(table)
        return {
            "targets": sorted(
                [_strip(t["ResourceId"], table), t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]]
                for t in targets
                if mine(t["ResourceId"])
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
                for p in policies
                if mine(p["ResourceId"])
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

    def _table_alarms(self, table: str) -> list[dict[str, Any]]:
        alarms: list[dict[str, Any]] = []
        request: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
        while True:
            page = self._cw.describe_alarms(**request)
            alarms.extend(
                a
                for a in page.get("MetricAlarms", [])
                if a.get("Namespace") == "AWS/DynamoDB"
                and not _managed_by_autoscaling(a)
                and any(d["Name"] == "TableName" and d["Value"] == table for d in a.get("Dimensions", []))
            )
            if not page.get("NextToken"):
                return alarms
            request["NextToken"] = page["NextToken"]

    def _alarms(self, table: str) -> Any:
        return sorted(
            json.dumps(_alarm_shape(a, table), sort_keys=True, default=str) for a in self._table_alarms(table)
        )

    # ------------------------------------------------------------------ applying
    def reapply(self, source: str, target: str) -> list[SettingResult]:
        """Make `target` match `source` setting by setting; returns what happened to each."""
        before_source, before_target = self.read(source), self.read(target)
        results: list[SettingResult] = []
        for name in SETTING_NAMES:
            wanted, current = before_source[name], before_target[name]
            if isinstance(wanted, Unknown):
                results.append(
                    SettingResult(name, "not-verifiable", f"cannot read on source: {wanted.reason}")
                )
                continue
            if wanted == current:
                results.append(SettingResult(name, "unchanged"))
                continue
            applier = getattr(self, f"_apply_{name}", None)
            if applier is None:
                results.append(SettingResult(name, "failed", "set at restore time; cannot be changed after"))
                continue
            try:
                with aws_errors(table=target):
                    applier(source, target, wanted)
            except Exception as exc:
                results.append(
                    SettingResult(name, "failed", f"{error_code(exc.__cause__ or exc)}: {str(exc)[:200]}")
                )
                continue
            results.append(SettingResult(name, "applied"))
        return results

    def diff(self, source: str, target: str) -> dict[str, dict[str, Any]]:
        """Settings whose values still differ (Unknown on the source is not a difference)."""
        left, right = self.read(source), self.read(target)
        return {
            name: {"source": _jsonable(left[name]), "restored": _jsonable(right[name])}
            for name in SETTING_NAMES
            if not isinstance(left[name], Unknown) and left[name] != right[name]
        }

    def _apply_pitr(self, source: str, target: str, wanted: dict[str, Any]) -> None:
        spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": wanted["enabled"]}
        if wanted["enabled"]:
            spec["RecoveryPeriodInDays"] = wanted["days"]
        self._ddb.update_continuous_backups(TableName=target, PointInTimeRecoverySpecification=spec)

    def _wait_idle(self, table: str) -> None:
        """UpdateTable is refused while a previous update is in progress."""
        RestoreTables(self._ddb).wait_active(table)

    def _apply_stream(self, source: str, target: str, wanted: str | None) -> None:
        self._wait_idle(target)
        spec = {"StreamEnabled": True, "StreamViewType": wanted} if wanted else {"StreamEnabled": False}
        self._ddb.update_table(TableName=target, StreamSpecification=spec)

    def _apply_ttl(self, source: str, target: str, wanted: str | None) -> None:
        if wanted:
            spec = {"Enabled": True, "AttributeName": wanted}
        else:
            spec = {"Enabled": False, "AttributeName": self._ttl_attribute(target)}
        self._ddb.update_time_to_live(TableName=target, TimeToLiveSpecification=spec)

    def _ttl_attribute(self, table: str) -> str:
        return str(
            self._ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"].get("AttributeName", "")
        )

    def _apply_tags(self, source: str, target: str, wanted: dict[str, str]) -> None:
        arn = self._table(target)["TableArn"]
        current = self._tags(target)
        extra = sorted(set(current) - set(wanted))
        if extra:
            self._ddb.untag_resource(ResourceArn=arn, TagKeys=extra)
        if wanted:
            self._ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in wanted.items()])

    def _apply_deletion_protection(self, source: str, target: str, wanted: bool) -> None:
        self._wait_idle(target)
        self._ddb.update_table(TableName=target, DeletionProtectionEnabled=wanted)

    def _apply_autoscaling(self, source: str, target: str, wanted: dict[str, Any]) -> None:
        mine = _autoscaling_ids(source)
        for t in self._aas.describe_scalable_targets(ServiceNamespace="dynamodb").get("ScalableTargets", []):
            if mine(t["ResourceId"]):
                self._aas.register_scalable_target(
                    ServiceNamespace="dynamodb",
                    ResourceId=_retarget(t["ResourceId"], source, target),
                    ScalableDimension=t["ScalableDimension"],
                    MinCapacity=t["MinCapacity"],
                    MaxCapacity=t["MaxCapacity"],
                )
        for p in self._aas.describe_scaling_policies(ServiceNamespace="dynamodb").get("ScalingPolicies", []):
            if mine(p["ResourceId"]):
                request = {
                    "PolicyName": p["PolicyName"],
                    "ServiceNamespace": "dynamodb",
                    "ResourceId": _retarget(p["ResourceId"], source, target),
                    "ScalableDimension": p["ScalableDimension"],
                    "PolicyType": p["PolicyType"],
                }
                for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"):
                    if key in p:
                        request[key] = p[key]
                self._aas.put_scaling_policy(**request)

    def _apply_contributor_insights(self, source: str, target: str, wanted: str) -> None:
        action = "ENABLE" if wanted in {"ENABLED", "ENABLING"} else "DISABLE"
        self._ddb.update_contributor_insights(TableName=target, ContributorInsightsAction=action)

    def _apply_resource_policy(self, source: str, target: str, wanted: Any) -> None:
        arn = self._table(target)["TableArn"]
        if wanted is None:
            self._ddb.delete_resource_policy(ResourceArn=arn)
            return
        self._ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(wanted).replace(NAME, arn))

    def _apply_kinesis_destinations(self, source: str, target: str, wanted: list[str]) -> None:
        for stream_arn in wanted:
            self._ddb.enable_kinesis_streaming_destination(TableName=target, StreamArn=stream_arn)

    def _apply_alarms(self, source: str, target: str, wanted: list[str]) -> None:
        """Copies of the source's alarms watching the restored table (named '<alarm> (<target>)')."""
        for alarm in self._table_alarms(source):
            request = {k: v for k, v in alarm.items() if k in _ALARM_FIELDS}
            request["AlarmName"] = f"{alarm['AlarmName']} ({target})"[:255]
            request["Dimensions"] = [
                {**d, "Value": target} if d["Name"] == "TableName" else d for d in alarm.get("Dimensions", [])
            ]
            self._cw.put_metric_alarm(**request)


_ALARM_FIELDS = {
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


def _managed_by_autoscaling(alarm: dict[str, Any]) -> bool:
    """Target-tracking policies own their alarms; re-applying the policy recreates them."""
    return str(alarm.get("AlarmName", "")).startswith("TargetTracking-") or str(
        alarm.get("AlarmDescription", "")
    ).startswith("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy")


def _alarm_shape(alarm: dict[str, Any], table: str) -> dict[str, Any]:
    shape = {k: v for k, v in alarm.items() if k in _ALARM_FIELDS}
    shape["Dimensions"] = sorted(
        (d["Name"], NAME if d["Name"] == "TableName" and d["Value"] == table else d["Value"])
        for d in alarm.get("Dimensions", [])
    )
    return shape


def _autoscaling_ids(table: str) -> Callable[[str], bool]:
    return lambda resource_id: (
        resource_id == f"table/{table}" or resource_id.startswith(f"table/{table}/index/")
    )


def _strip(resource_id: str, table: str) -> str:
    return resource_id.replace(f"table/{table}", f"table/{NAME}", 1)


def _retarget(resource_id: str, source: str, target: str) -> str:
    return resource_id.replace(f"table/{source}", f"table/{target}", 1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    return json.loads(json.dumps(value, default=str))
