"""Every identity policy of the transformed template, resolved as CloudFormation would deploy it
(realistic physical names and ARNs per resource type), for the linter and the quota checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dynamodb_dr_local.emulator.postdeploy import Intrinsics

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class DeployedPolicy:
    role: str  # logical id of the role it applies to ("" for none)
    name: str
    kind: str  # "inline" | "managed"
    document: dict[str, Any]

    @property
    def size(self) -> int:
        """Characters IAM counts against its quotas: the JSON without whitespace."""
        return len(json.dumps(self.document, separators=(",", ":")))


def physical_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}-ABCDEFGH1234"[:64]


def intrinsics(cfn: Mapping[str, Any], parameters: Mapping[str, str], stack: str) -> Intrinsics:
    types = {k: v.get("Type", "") for k, v in cfn.get("Resources", {}).items()}
    resolver: Intrinsics  # set below; names given as intrinsics (e.g. ${AWS::StackName}-restore)

    def name(logical_id: str) -> str:
        props = cfn["Resources"][logical_id].get("Properties", {})
        for key in ("StateMachineName", "TableName", "QueueName", "TopicName", "FunctionName"):
            if key in props:
                return str(resolver.resolve(props[key]))
        return physical_name(stack, logical_id)

    def arn(logical_id: str) -> str:
        kind, n = types[logical_id], name(logical_id)
        return {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{n}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{n}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{n}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "AWS::S3::Bucket": f"arn:aws:s3:::{n.lower()}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{n}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{n}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{n}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{n}:*",
        }.get(kind, f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:{n}")

    def ref(logical_id: str) -> str:
        kind = types[logical_id]
        if kind in {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"}:
            return arn(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name(logical_id)}"
        if kind == "AWS::KMS::Key":
            return arn(logical_id).rsplit("/", 1)[1]
        if kind == "AWS::S3::Bucket":
            return name(logical_id).lower()
        return name(logical_id)

    def get_att(logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return arn(logical_id)
        if attribute in {"QueueName", "Name"}:
            return name(logical_id)
        return f"{name(logical_id)}.{attribute}"

    pseudo = {
        "AWS::StackName": stack,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = Intrinsics(cfn, parameters, ref=ref, get_att=get_att, pseudo=pseudo)
    return resolver


def deployed_policies(
    cfn: Mapping[str, Any], parameters: Mapping[str, str], stack: str
) -> list[DeployedPolicy]:
    ev = intrinsics(cfn, parameters, stack)
    found: list[DeployedPolicy] = []
    for logical_id, resource in cfn["Resources"].items():
        if not ev.is_active(resource):
            continue
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found.append(
                    DeployedPolicy(
                        logical_id, policy["PolicyName"], "inline", ev.resolve(policy["PolicyDocument"])
                    )
                )
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            for role in props.get("Roles", []) or [None]:
                role_id = role.get("Ref", "") if isinstance(role, dict) else ""
                found.append(
                    DeployedPolicy(role_id, logical_id, "managed", ev.resolve(props["PolicyDocument"]))
                )
        elif resource["Type"] in {"AWS::IAM::RolePolicy", "AWS::IAM::Policy"}:
            roles = props.get("Roles") or [props.get("RoleName")]
            for role in roles:
                role_id = role.get("Ref", "") if isinstance(role, dict) else ""
                found.append(
                    DeployedPolicy(role_id, logical_id, "inline", ev.resolve(props["PolicyDocument"]))
                )
    return found


def function_environments(
    cfn: Mapping[str, Any], parameters: Mapping[str, str], stack: str
) -> dict[str, dict[str, str]]:
    ev = intrinsics(cfn, parameters, stack)
    return {
        logical_id: {
            k: str(v)
            for k, v in ev.resolve(r["Properties"].get("Environment", {}).get("Variables", {})).items()
        }
        for logical_id, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }
