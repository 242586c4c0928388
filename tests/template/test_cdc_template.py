"""The CDC archive section of the transformed template: least privilege, no static mappings."""

from __future__ import annotations

import json

from template_support import cfn, statements


def test_no_event_source_mapping_is_declared_the_follower_manages_them() -> None:
    kinds = {r["Type"] for r in cfn()["Resources"].values()}
    assert "AWS::Lambda::EventSourceMapping" not in kinds
    follower = cfn()["Resources"]["CdcFollowerFunction"]["Properties"]["Environment"]["Variables"]
    assert follower["ARCHIVER_FUNCTION"] == {"Ref": "CdcArchiverFunction"}
    assert follower["CDC_BATCH_SIZE"] == {"Ref": "CdcBatchSize"}
    assert cfn()["Parameters"]["CdcBatchSize"]["MaxValue"] == 10000


def test_archiver_writes_only_under_cdc_and_reads_only_protected_streams() -> None:
    granted = statements("CdcArchiverFunctionRole")
    assert granted["WriteCdcArchive"]["Action"] == "s3:PutObject"
    assert granted["WriteCdcArchive"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/cdc/*"}
    assert granted["ReadCdcObjectOnConflict"]["Action"] == "s3:GetObject"
    assert granted["ReadCdcObjectOnConflict"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/cdc/*"}
    # Streams carry no table tags (DynamoDB Streams ABAC is separate): every stream of this account
    # and region, read-only; only the follower's mappings (on protected tables) deliver records.
    streams = granted["ReadProtectedTableStreams"]["Resource"]
    assert streams == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*/stream/*"
    }
    assert "arn:*" not in json.dumps(granted)
    actions = {
        a for s in granted.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {a for a in actions if a.startswith("s3:")} == {"s3:PutObject", "s3:GetObject"}  # never a LIST


def test_follower_manages_only_the_archivers_mappings() -> None:
    granted = statements("CdcFollowerFunctionRole")
    pinned = {"ArnEquals": {"lambda:FunctionArn": {"Fn::GetAtt": ["CdcArchiverFunction", "Arn"]}}}
    assert granted["CreateArchiverMappingsOnly"]["Condition"] == pinned
    assert granted["ManageArchiverMappings"]["Condition"] == pinned
    assert granted["WriteLiveTableHistory"]["Resource"] == {
        "Fn::Sub": "${ArchiveBucket.Arn}/cdc/table=*/live-periods/*"
    }
    assert granted["ListLiveTableHistory"]["Condition"] == {
        "StringLike": {"s3:prefix": ["cdc/table=*/live-periods/*", "cdc/streams/*"]}
    }
    # Coverage and retirement records of each stream, never the changes themselves.
    assert granted["WriteStreamCoverage"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/cdc/streams/*"}
    assert "lambda:UpdateEventSourceMapping" in granted["ManageArchiverMappings"]["Action"]
    assert "ssm:GetParameterHistory" in granted["ReadLivePointersAndTheirHistory"]["Action"]


def test_failure_queue_is_encrypted_and_alarmed() -> None:
    resources = cfn()["Resources"]
    assert resources["CdcFailureQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    alarm = resources["CdcFailureQueueAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 0


def test_glue_table_projects_the_archive_partitions() -> None:
    table = cfn()["Resources"]["CdcGlueTable"]["Properties"]["TableInput"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["table_name", "dt", "hour"]
    assert table["Parameters"]["projection.enabled"] == "true"
    template = table["Parameters"]["storage.location.template"]["Fn::Sub"]
    assert template.endswith("/cdc/table=${!table_name}/dt=${!dt}/hour=${!hour}/")
