"""Deleting a table the tool restored takes with it everything the tool set up for it: the alarm
copies it made (named `<alarm> (<table>)`, watching that table) and the Application Auto Scaling
targets registered for the table and its indexes (deregistering a target removes its policies).
Streams, TTL, tags, resource policies, contributor insights and Kinesis destinations go with the
table itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.restore.setting_readers import autoscaling_ids
from dynamodb_dr.restore.tables import RestoreTables

if TYPE_CHECKING:
    from types_boto3_application_autoscaling import ApplicationAutoScalingClient
    from types_boto3_application_autoscaling.literals import ScalableDimensionType
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_dynamodb import DynamoDBClient

DELETE_ALARMS_LIMIT = 100  # DeleteAlarms takes at most 100 names


@dataclass
class Disposed:
    table: str
    alarms: list[str] = field(default_factory=list)
    scalable_targets: list[str] = field(default_factory=list)


class Disposal:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        cloudwatch: CloudWatchClient,
        autoscaling: ApplicationAutoScalingClient,
    ) -> None:
        self._tables = RestoreTables(dynamodb)
        self._cw, self._aas = cloudwatch, autoscaling

    def tool_alarms(self, table: str) -> list[str]:
        """Alarm copies the restore made for `table` (its naming and its TableName dimension)."""
        names = []
        for page in self._cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                name = alarm.get("AlarmName", "")
                watches = any(
                    d["Name"] == "TableName" and d["Value"] == table for d in alarm.get("Dimensions", [])
                )
                if name.endswith(f" ({table})") and watches:
                    names.append(name)
        return names

    def scalable_targets(self, table: str) -> list[tuple[str, ScalableDimensionType]]:
        mine = autoscaling_ids(table)
        pages = self._aas.get_paginator("describe_scalable_targets").paginate(ServiceNamespace="dynamodb")
        return [
            (t["ResourceId"], t["ScalableDimension"])
            for page in pages
            for t in page.get("ScalableTargets", [])
            if mine(t["ResourceId"])
        ]

    def dispose(self, table: str) -> Disposed:
        """Delete `table` and what the tool set up for it (callers decide that it may go)."""
        done = Disposed(table, alarms=self.tool_alarms(table))
        with aws_errors(table=table):
            for i in range(0, len(done.alarms), DELETE_ALARMS_LIMIT):
                self._cw.delete_alarms(AlarmNames=done.alarms[i : i + DELETE_ALARMS_LIMIT])
            for resource_id, dimension in self.scalable_targets(table):
                self._aas.deregister_scalable_target(
                    ServiceNamespace="dynamodb",
                    ResourceId=resource_id,
                    ScalableDimension=dimension,
                )
                done.scalable_targets.append(f"{resource_id} {dimension}")
        self._tables.delete(table)
        return done
