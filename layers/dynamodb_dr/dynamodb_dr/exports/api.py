"""AWS adapters of the export chain: DynamoDB export API, the S3 chain index, SNS notices."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import PitrUnavailable

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client
    from types_boto3_sns import SNSClient

INCREMENTAL_VIEW = "NEW_AND_OLD_IMAGES"


def client_token(physical_table: str, export_type: str, window_to: datetime, attempt: int) -> str:
    """Same table + window + attempt -> same token: AWS then returns the export already started."""
    raw = f"{physical_table}|{export_type}|{window_to.isoformat()}|{attempt}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ExportStatusView:
    arn: str
    status: str
    item_count: int | None
    manifest_key: str | None
    failure: str | None
    ended_at: datetime | None


class DynamoExports:
    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def table_arn_and_schema(self, table: str) -> tuple[str, dict[str, Any]]:
        """The table ARN and the schema a rebuild needs to create the table again."""
        with aws_errors(table=table):
            description = self._client.describe_table(TableName=table)["Table"]
        schema: dict[str, Any] = {
            "KeySchema": description["KeySchema"],
            "AttributeDefinitions": description["AttributeDefinitions"],
        }
        for kind, found in (
            ("GlobalSecondaryIndexes", description.get("GlobalSecondaryIndexes", [])),
            ("LocalSecondaryIndexes", description.get("LocalSecondaryIndexes", [])),
        ):
            indexes = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in found
            ]
            if indexes:
                schema[kind] = indexes
        return str(description["TableArn"]), schema

    def start(
        self,
        *,
        table_arn: str,
        table: str,
        bucket: str,
        prefix: str,
        token: str,
        export_time: datetime,
        window_from: datetime | None,
        kms_key_id: str | None,
    ) -> str:
        request: dict[str, Any] = {
            "TableArn": table_arn,
            "S3Bucket": bucket,
            "S3Prefix": prefix,
            "ClientToken": token,
            "ExportFormat": "DYNAMODB_JSON",
        }
        if kms_key_id:
            request.update(S3SseAlgorithm="KMS", S3SseKmsKeyId=kms_key_id)
        if window_from is None:
            request.update(ExportType="FULL_EXPORT", ExportTime=export_time)
        else:
            request.update(
                ExportType="INCREMENTAL_EXPORT",
                IncrementalExportSpecification={
                    "ExportFromTime": window_from,
                    "ExportToTime": export_time,
                    "ExportViewType": INCREMENTAL_VIEW,
                },
            )
        try:
            with aws_errors(table=table):
                description = self._client.export_table_to_point_in_time(**request)["ExportDescription"]
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "PointInTimeRecoveryUnavailableException":
                raise PitrUnavailable(f"PITR is off for {table}: it cannot be exported", table=table) from exc
            raise
        return str(description["ExportArn"])

    def describe(self, arn: str, table: str) -> ExportStatusView:
        with aws_errors(table=table):
            description = self._client.describe_export(ExportArn=arn)["ExportDescription"]
        failure = description.get("FailureCode")
        return ExportStatusView(
            arn=arn,
            status=str(description["ExportStatus"]),
            item_count=description.get("ItemCount"),
            manifest_key=description.get("ExportManifest"),
            failure=f"{failure}: {description.get('FailureMessage')}" if failure else None,
            ended_at=description.get("EndTime"),
        )


class ChainIndex:
    """Finished export records as JSON next to the exports (`<prefix>/<table>/chain/<sk>.json`).

    The rebuild reads the chain from here, so it needs nothing but the (replicated) bucket.
    `s3` gives the client on first use: most ticks never write the index.
    """

    def __init__(self, s3: Callable[[], S3Client], bucket: str, prefix: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def key(self, logical_name: str, sk: str) -> str:
        return f"{self._prefix}/{logical_name}/chain/{sk.replace('#', '_')}.json"

    def put(self, logical_name: str, sk: str, body: str) -> None:
        with aws_errors(table=logical_name):
            self._s3().put_object(
                Bucket=self._bucket,
                Key=self.key(logical_name, sk),
                Body=body.encode(),
                ContentType="application/json",
            )


class Notifier:
    """Export failure notices; `sns` gives the client on first use (most ticks notify nobody)."""

    def __init__(self, sns: Callable[[], SNSClient], topic_arn: str | None) -> None:
        self._sns = sns
        self._topic = topic_arn

    def export_failed(self, logical_name: str, details: dict[str, Any]) -> None:
        if not self._topic:
            return
        with aws_errors(table=logical_name):
            self._sns().publish(
                TopicArn=self._topic,
                Subject=f"dynamodb-dr: export of {logical_name} failed"[:100],
                Message=json.dumps({"table": logical_name, **details}, default=str),
            )
