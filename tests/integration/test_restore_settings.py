"""What a restore drops comes back: a provisioned, KMS-encrypted table with autoscaling, an alarm,
a resource policy, deletion protection, TTL and tags is restored with all of them."""

from __future__ import annotations

import json

import pytest
from restore_support import deploy, live_table, run, scan, tags

from dynamodb_dr_local.emulator import Emulator

pytestmark = pytest.mark.integration


def _rich_table(emu: Emulator) -> str:
    ddb = emu.clients.client("dynamodb")
    key: str = emu.clients.client("kms").create_key(Description="orders key")["KeyMetadata"]["Arn"]
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-pk-status",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "status", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        DeletionProtectionEnabled=True,
        Tags=[{"Key": "team", "Value": "orders"}, {"Key": "cost-center", "Value": "42"}],
    )
    ddb.update_continuous_backups(
        TableName="orders",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 14},
    )
    ddb.update_time_to_live(
        TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    arn = ddb.describe_table(TableName="orders")["Table"]["TableArn"]
    ddb.put_resource_policy(
        ResourceArn=arn,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
                        "Action": "dynamodb:GetItem",
                        "Resource": arn,
                    }
                ],
            }
        ),
    )
    aas = emu.clients.client("application-autoscaling")
    aas.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId="table/orders",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=5,
        MaxCapacity=50,
    )
    aas.put_scaling_policy(
        PolicyName="orders-read",
        ServiceNamespace="dynamodb",
        ResourceId="table/orders",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
        },
    )
    emu.clients.client("cloudwatch").put_metric_alarm(
        AlarmName="orders-throttles",
        Namespace="AWS/DynamoDB",
        MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": "orders"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    with emu.clients.session_resource("dynamodb").Table("orders").batch_writer() as batch:
        for n in range(30):
            batch.put_item(Item={"pk": f"o{n % 7}", "sk": n, "status": "open" if n % 2 else "paid"})
    return key


def test_every_dropped_setting_is_reapplied(emu: Emulator) -> None:
    key = _rich_table(emu)
    stack = deploy(emu, "orders")
    result = run(
        emu,
        stack,
        {
            "tables": [{"logical": "orders"}],
            "use_latest": True,
            "cutover": "automatic",
            "validation": {"segments": 5},
        },
        "rich",
    )
    assert result["status"] == "SUCCEEDED", result.get("cause")
    report = json.loads(result["output"])["tables"][0]
    restored = live_table(emu, stack, "orders")
    assert scan(emu, restored) == scan(emu, "orders") and report["item_count"] == 30
    assert set(report["settings_reapplied"]) >= {
        "pitr",
        "stream",
        "ttl",
        "tags",
        "deletion_protection",
        "autoscaling",
        "resource_policy",
        "alarms",
    }

    ddb = emu.clients.client("dynamodb")
    table = ddb.describe_table(TableName=restored)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key
    assert table["DeletionProtectionEnabled"] is True
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-status"]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["by-pk-status"]
    pitr = ddb.describe_continuous_backups(TableName=restored)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 14
    assert {k: v for k, v in tags(emu, restored).items() if not k.startswith("dynamodb-dr:")} == {
        "team": "orders",
        "cost-center": "42",
    }
    policy = ddb.get_resource_policy(ResourceArn=table["TableArn"])["Policy"]
    assert table["TableArn"] in policy and '"orders"' not in policy
    aas = emu.clients.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    assert {(t["ResourceId"], t["MaxCapacity"]) for t in targets} == {
        ("table/orders", 50),
        (f"table/{restored}", 50),
    }
    policies = aas.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert f"table/{restored}" in {p["ResourceId"] for p in policies}
    alarms = emu.clients.client("cloudwatch").describe_alarms()["MetricAlarms"]
    copies = [a for a in alarms if a["AlarmName"].endswith(f"({restored})")]
    assert [a["AlarmName"] for a in copies] == [f"orders-throttles ({restored})"]  # not autoscaling's own
    copy = copies[0]
    assert copy["Dimensions"] == [{"Name": "TableName", "Value": restored}]
    # the source keeps everything it had
    assert ddb.describe_table(TableName="orders")["Table"]["DeletionProtectionEnabled"] is True
