"""What a restore drops: read each setting on source and restored table, re-apply, diff.

Every setting has a reader (setting_readers.py) and, where it can be changed after the restore, an
applier here. Re-applying is per setting: one failure is recorded, not fatal; the diff that
follows decides whether the run may continue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.restore.models import SETTING_NAMES
from dynamodb_dr.restore.setting_readers import ALARM_FIELDS, NAME, SettingReaders, Unknown
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from types_boto3_application_autoscaling.type_defs import PutScalingPolicyRequestTypeDef
    from types_boto3_dynamodb.literals import StreamViewTypeType

__all__ = ["NAME", "SettingResult", "TableSettings", "Unknown"]


# Settings whose copy acts outside the restored table (pages on-call, feeds production streams,
# registers quota-bound targets, grants access, costs money): applied only when the restored table
# may become live. A run that never cuts over (a rehearsal) applies only what it measures.
SIDE_EFFECTS = frozenset(
    {
        "alarms",
        "kinesis_destinations",
        "autoscaling",
        "contributor_insights",
        "resource_policy",
        "pitr",
        "deletion_protection",
        "warm_throughput",
    }
)
# Not carried over by a restore and not re-created by the tool: each must be accepted in the request
# (`accept_setting_differences`) before a cutover; a run that never cuts over only reports them.
NOT_CARRIED_OVER = frozenset({"stream_consumers", "replicas"})


@dataclass(frozen=True)
class SettingResult:
    setting: str
    status: str  # applied | unchanged | failed | not-verifiable | skipped
    detail: str = ""


class TableSettings(SettingReaders):
    """Reads, re-applies and compares one table's settings through injected boto3 clients."""

    def reapply(self, source: str, target: str, *, skip: frozenset[str] = frozenset()) -> list[SettingResult]:
        """Make `target` match `source` setting by setting (except `skip`); what happened to each."""
        before_source, before_target = self.read(source), self.read(target)
        results: list[SettingResult] = []
        for name in SETTING_NAMES:
            if name in skip:
                results.append(SettingResult(name, "skipped", "not applied: this run never cuts over"))
                continue
            wanted, current = before_source[name], before_target[name]
            if isinstance(wanted, Unknown):
                results.append(
                    SettingResult(name, "not-verifiable", f"cannot read on source: {wanted.reason}")
                )
                continue
            if _satisfied(name, wanted, current):
                results.append(SettingResult(name, "unchanged"))
                continue
            if name in NOT_CARRIED_OVER:
                why = "not carried over by a restore, not re-created by the tool: move it, or accept it"
                results.append(SettingResult(name, "failed", why))
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

    def diff(
        self, source: str, target: str, *, skip: frozenset[str] = frozenset()
    ) -> dict[str, dict[str, Any]]:
        """Settings whose values still differ (Unknown on the source is not a difference)."""
        left, right = self.read(source), self.read(target)
        return {
            name: {"source": _jsonable(left[name]), "restored": _jsonable(right[name])}
            for name in SETTING_NAMES
            if name not in skip
            and not isinstance(left[name], Unknown)
            and not _satisfied(name, left[name], right[name])
        }

    def _apply_pitr(self, source: str, target: str, wanted: dict[str, Any]) -> None:
        if wanted["enabled"]:
            self._ddb.update_continuous_backups(
                TableName=target,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True,
                    "RecoveryPeriodInDays": wanted["days"],
                },
            )
            return
        self._ddb.update_continuous_backups(
            TableName=target, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        )

    def _wait_idle(self, table: str) -> None:
        """UpdateTable is refused while a previous update is in progress."""
        RestoreTables(self._ddb).wait_active(table)

    def _apply_stream(self, source: str, target: str, wanted: StreamViewTypeType | None) -> None:
        self._wait_idle(target)
        if wanted:
            self._ddb.update_table(
                TableName=target,
                StreamSpecification={"StreamEnabled": True, "StreamViewType": wanted},
            )
        else:
            self._ddb.update_table(TableName=target, StreamSpecification={"StreamEnabled": False})

    def _apply_ttl(self, source: str, target: str, wanted: str | None) -> None:
        attribute = wanted or self._ttl_attribute(target)
        self._ddb.update_time_to_live(
            TableName=target, TimeToLiveSpecification={"Enabled": bool(wanted), "AttributeName": attribute}
        )

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
        for t in list(self.scalable_targets(source)):
            self._aas.register_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId=_retarget(t["ResourceId"], source, target),
                ScalableDimension=t["ScalableDimension"],
                MinCapacity=t["MinCapacity"],
                MaxCapacity=t["MaxCapacity"],
            )
        for p in list(self.scaling_policies(source)):
            request: PutScalingPolicyRequestTypeDef = {
                "PolicyName": p["PolicyName"],
                "ServiceNamespace": "dynamodb",
                "ResourceId": _retarget(p["ResourceId"], source, target),
                "ScalableDimension": p["ScalableDimension"],
                "PolicyType": p["PolicyType"],
            }
            if "TargetTrackingScalingPolicyConfiguration" in p:
                request["TargetTrackingScalingPolicyConfiguration"] = p[
                    "TargetTrackingScalingPolicyConfiguration"
                ]
            if "StepScalingPolicyConfiguration" in p:
                request["StepScalingPolicyConfiguration"] = p["StepScalingPolicyConfiguration"]
            self._aas.put_scaling_policy(**request)

    def _apply_contributor_insights(self, source: str, target: str, wanted: str) -> None:
        enable = wanted in {"ENABLED", "ENABLING"}
        self._ddb.update_contributor_insights(
            TableName=target, ContributorInsightsAction="ENABLE" if enable else "DISABLE"
        )

    def _apply_resource_policy(self, source: str, target: str, wanted: Any) -> None:
        arn = self._table(target)["TableArn"]
        if wanted is None:
            self._ddb.delete_resource_policy(ResourceArn=arn)
            return
        self._ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(wanted).replace(NAME, arn))

    def _apply_kinesis_destinations(self, source: str, target: str, wanted: list[str]) -> None:
        for stream_arn in wanted:
            self._ddb.enable_kinesis_streaming_destination(TableName=target, StreamArn=stream_arn)

    def _apply_on_demand_throughput(self, source: str, target: str, wanted: dict[str, Any] | None) -> None:
        if not wanted:
            return
        self._wait_idle(target)
        request: Any = {"TableName": target}
        if "table" in wanted:
            request["OnDemandThroughput"] = wanted["table"]
        indexes = [
            {"Update": {"IndexName": name, "OnDemandThroughput": limits}}
            for name, limits in wanted.items()
            if name != "table"
        ]
        if indexes:
            request["GlobalSecondaryIndexUpdates"] = indexes
        self._ddb.update_table(**request)

    def _apply_warm_throughput(self, source: str, target: str, wanted: dict[str, int] | None) -> None:
        if not wanted:
            return
        self._wait_idle(target)
        self._ddb.update_table(
            TableName=target,
            WarmThroughput={"ReadUnitsPerSecond": wanted["read"], "WriteUnitsPerSecond": wanted["write"]},
        )

    def _apply_alarms(self, source: str, target: str, wanted: list[str]) -> None:
        """Copies of the source's alarms watching the restored table (named '<alarm> (<target>)')."""
        for alarm in self.table_alarms(source):
            request: dict[str, Any] = {k: v for k, v in alarm.items() if k in ALARM_FIELDS}
            request["AlarmName"] = f"{alarm['AlarmName']} ({target})"[:255]
            request["Dimensions"] = [
                {**d, "Value": target} if d["Name"] == "TableName" else d for d in alarm.get("Dimensions", [])
            ]
            self._cw.put_metric_alarm(**request)


def _satisfied(name: str, wanted: Any, current: Any) -> bool:
    """Equal, or for warm throughput at least as warm (it can only be raised)."""
    if name == "warm_throughput" and isinstance(wanted, dict) and isinstance(current, dict):
        return bool(current["read"] >= wanted["read"] and current["write"] >= wanted["write"])
    return bool(wanted == current)


def _retarget(resource_id: str, source: str, target: str) -> str:
    return resource_id.replace(f"table/{source}", f"table/{target}", 1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    return json.loads(json.dumps(value, default=str))
