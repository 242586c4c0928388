"""The stack's CloudFormation custom resource: what a deploy and a `sam delete` do outside the
stack's own resources.

Deploy (Create/Update): tag every table named in ProtectedTables `dynamodb-dr:protect=<stack>`
(the stack's roles reach tables only through that tag) and untag tables removed from the list.
Delete: remove what the tool created at run time (the CDC archiver's event source mappings and
the live-table pointers) and the tags it added, so a later stack of the same name starts clean.
A customer table's data and settings (PITR, streams, capacity) are never touched.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from dynamodb_dr.core import paths
from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.errors import InvalidInput
from dynamodb_dr.core.model import DomainModel

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_ssm import SSMClient


class LifecycleProperties(DomainModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    StackName: str = Field(min_length=1)
    ProtectedTables: str = ""
    SsmPrefix: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
    ArchiverFunction: str = Field(min_length=1)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.ProtectedTables.split(",") if n.strip())


class LifecycleRequest(DomainModel):
    """A CloudFormation custom resource request (the fields this resource uses)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    PhysicalResourceId: str | None = None
    ResourceProperties: LifecycleProperties
    OldResourceProperties: LifecycleProperties | None = None


@dataclass
class LifecycleReport:
    tagged: list[str] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mappings_deleted: list[str] = field(default_factory=list)
    pointers_deleted: list[str] = field(default_factory=list)

    def data(self) -> dict[str, str]:
        # Custom resource Data values must be strings; names only, never contents.
        return {k: ",".join(v) for k, v in self.__dict__.items()}


class TableTags:
    """Adds and removes the stack's protect tag; nothing else on a table."""

    def __init__(self, dynamodb: DynamoDBClient, stack: str) -> None:
        self._ddb, self._stack = dynamodb, stack

    def arn(self, table: str) -> str | None:
        try:
            with aws_errors(table=table):
                return self._ddb.describe_table(TableName=table)["Table"]["TableArn"]
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ResourceNotFoundException":
                return None
            raise

    def owner(self, arn: str) -> str | None:
        """The stack that protects the table (the protect tag's value), if any."""
        with aws_errors(table=arn):
            for page in self._ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn):
                for tag in page.get("Tags", []):
                    if tag["Key"] == paths.PROTECT_TAG_KEY:
                        return tag["Value"]
        return None

    def tag(self, arn: str) -> None:
        with aws_errors(table=arn):
            self._ddb.tag_resource(
                ResourceArn=arn, Tags=[{"Key": paths.PROTECT_TAG_KEY, "Value": self._stack}]
            )

    def untag(self, arn: str) -> None:
        with aws_errors(table=arn):
            self._ddb.untag_resource(ResourceArn=arn, TagKeys=[paths.PROTECT_TAG_KEY])


def on_deploy(names: Sequence[str], old_names: Sequence[str], tags: TableTags, stack: str) -> LifecycleReport:
    """Tag the named tables for this stack (all checked before any is tagged); untag dropped names.

    A table another stack already protects fails the deploy (one tag value, one owner): tagging
    it would silently take it from that stack. A missing table is reported, not fatal: the
    functions report it on every run until it exists (`dynamodb-dr preflight` flags it first).
    """
    report = LifecycleReport()
    arns: dict[str, str] = {}
    for name in names:
        arn = tags.arn(name)
        if arn is None:
            report.missing.append(name)
            continue
        owner = tags.owner(arn)
        if owner not in (None, stack):
            raise InvalidInput(
                f"table {name!r} is already protected by stack {owner!r} (tag {paths.PROTECT_TAG_KEY}); "
                f"remove it from that stack's ProtectedTables first",
                table=name,
            )
        arns[name] = arn
    for name, arn in arns.items():
        tags.tag(arn)
        report.tagged.append(name)
    for name in sorted(set(old_names) - set(names)):
        _untag_if_ours(name, tags, stack, report)
    return report


def on_delete(
    names: Sequence[str],
    props: LifecycleProperties,
    tags: TableTags,
    lambda_client: LambdaClient,
    ssm: SSMClient,
) -> LifecycleReport:
    report = LifecycleReport()
    with aws_errors():
        pages = lambda_client.get_paginator("list_event_source_mappings").paginate(
            FunctionName=props.ArchiverFunction
        )
        uuids = [m["UUID"] for page in pages for m in page.get("EventSourceMappings", [])]
    for uuid in uuids:
        try:
            with aws_errors():
                lambda_client.delete_event_source_mapping(UUID=uuid)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ResourceNotFoundException":
                raise
        report.mappings_deleted.append(uuid)
    with aws_errors():
        pages_ssm = ssm.get_paginator("get_parameters_by_path").paginate(
            Path=paths.pointers_prefix(props.SsmPrefix).rstrip("/"), Recursive=True
        )
        pointers = [
            p["Name"]
            for page in pages_ssm
            for p in page.get("Parameters", [])
            if paths.logical_name_of(props.SsmPrefix, p["Name"])
        ]
    for start in range(0, len(pointers), 10):  # DeleteParameters takes at most 10 names
        with aws_errors():
            ssm.delete_parameters(Names=pointers[start : start + 10])
    report.pointers_deleted.extend(pointers)
    for name in names:
        _untag_if_ours(name, tags, props.StackName, report)
    return report


def _untag_if_ours(name: str, tags: TableTags, stack: str, report: LifecycleReport) -> None:
    arn = tags.arn(name)
    if arn is not None and tags.owner(arn) == stack:
        tags.untag(arn)
        report.untagged.append(name)


def send_response(url: str, body: dict[str, Any]) -> None:
    """PUT the custom resource result to CloudFormation's pre-signed S3 URL."""
    data = json.dumps(body).encode()
    if not url.startswith("https://"):
        raise InvalidInput("CloudFormation response URL must be https")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=data, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(data))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()


def response_body(
    request: LifecycleRequest, status: str, reason: str, data: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": reason[:3500],  # one line with the fix; CloudFormation shows it in the events
        "PhysicalResourceId": request.PhysicalResourceId
        or f"{request.ResourceProperties.StackName}-lifecycle",
        "StackId": request.StackId,
        "RequestId": request.RequestId,
        "LogicalResourceId": request.LogicalResourceId,
        "Data": data or {},
    }
