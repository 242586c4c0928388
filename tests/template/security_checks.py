"""Our own security assertions on the samtranslator-transformed template (see test_security.py).

Everything is generic: it walks every role, policy, bucket, queue, topic, function and log group
of the transformed template, so a resource that lands later is checked without editing this file.
Resource ARNs are evaluated with the emulator's intrinsic resolver against a parameter set.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dynamodb_dr.core import paths
from dynamodb_dr_local.emulator.postdeploy import Intrinsics

STACK_NAME = "dynamodb-dr"
ACCOUNT = "123456789012"
REGION = "us-east-1"
PROTECTED = ("customers", "orders")

# Read-only by name: any action starting like this reads the control plane or data.
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Query", "Scan", "BatchGet")
# ... but these read *customer data* (items, stream records, archive objects, parameters with
# table pointers, secrets): never on `*`, even though they are read-only.
DATA_READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
)
# Not read-only by name, yet AWS only grants them on `*` and they cannot touch customer data or
# resources: each entry says why it may be granted on `*`.
STAR_ONLY_ALLOWED: dict[str, str] = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions; writes trace telemetry only",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions; writes telemetry only",
    "cloudwatch:PutMetricData": "no resource-level permissions; publishes metrics only",
    "states:ListStateMachines": "read-only listing (resource-level permissions not supported)",
    # Step Functions logging to CloudWatch Logs (vended log delivery): AWS documents these for
    # state machine logging and supports no resource-level permissions for them.
    "logs:CreateLogDelivery": "Step Functions log delivery; no resource-level permissions exist",
    "logs:UpdateLogDelivery": "Step Functions log delivery; no resource-level permissions exist",
    "logs:DeleteLogDelivery": "Step Functions log delivery; no resource-level permissions exist",
    "logs:PutResourcePolicy": "Step Functions log delivery (documented requirement); no resource type",
}
# Mutating actions with no resource type that are acceptable on `*` only when a condition key
# pins what they act on (the key must be present with concrete values).
STAR_ALLOWED_WITH_CONDITION: dict[str, str] = {
    "lambda:CreateEventSourceMapping": "lambda:FunctionArn",
}
# Actions that create a table (or write a whole table's contents into a new one).
TABLE_CREATING = (
    "dynamodb:CreateTable",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:ImportTable",
)
TABLE_DELETING = ("dynamodb:DeleteTable",)
POINTER_WRITING = (
    "ssm:PutParameter",
    "ssm:DeleteParameter",
    "ssm:DeleteParameters",
    "ssm:LabelParameterVersion",
)
RESTORE_ROLE_PATTERN = re.compile(r"restore", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    role: str  # logical id of the role the statement is attached to ("" for a managed policy)
    source: str  # where it was found (role / policy logical id and policy name)
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_action: bool
    not_resource: bool
    raw: Mapping[str, Any]


def intrinsics(cfn: Mapping[str, Any], parameters: Mapping[str, str]) -> Intrinsics:
    types = {k: v.get("Type", "") for k, v in cfn.get("Resources", {}).items()}

    def ref(logical_id: str) -> str:
        return f"{{Ref:{logical_id}}}"

    def get_att(logical_id: str, attribute: str) -> str:
        if types.get(logical_id) == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{{Bucket:{logical_id}}}"
        return f"arn:aws:cfn-getatt:{REGION}:{ACCOUNT}:{logical_id}.{attribute}"

    pseudo = {
        "AWS::StackName": STACK_NAME,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    return Intrinsics(cfn, parameters, ref=ref, get_att=get_att, pseudo=pseudo)


def active_resources(cfn: Mapping[str, Any], ev: Intrinsics) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in cfn.get("Resources", {}).items():
        if ev.is_active(resource):
            yield logical_id, resource


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _role_names(value: Any) -> list[str]:
    refs = value if isinstance(value, list) else [value]
    names: list[str] = []
    for entry in refs:
        if isinstance(entry, dict) and "Ref" in entry:
            names.append(str(entry["Ref"]))
        else:
            names.append(str(entry))
    return names


def identity_statements(cfn: Mapping[str, Any], ev: Intrinsics) -> list[Statement]:
    """Every statement of every identity policy: role inline policies, IAM::Policy,
    IAM::RolePolicy and IAM::ManagedPolicy (attached to roles through Roles/RoleName)."""
    found: list[Statement] = []

    def add(role: str, source: str, document: Any) -> None:
        resolved = ev.resolve(document)
        statements = resolved.get("Statement", [])
        for raw in statements if isinstance(statements, list) else [statements]:
            found.append(
                Statement(
                    role=role,
                    source=source,
                    effect=str(raw.get("Effect", "")),
                    actions=_as_tuple(raw.get("Action", raw.get("NotAction"))),
                    resources=_as_tuple(raw.get("Resource", raw.get("NotResource"))),
                    not_action="NotAction" in raw,
                    not_resource="NotResource" in raw,
                    raw=raw,
                )
            )

    for logical_id, resource in active_resources(cfn, ev):
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                add(logical_id, f"{logical_id}/{policy.get('PolicyName')}", policy["PolicyDocument"])
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}:
            roles = _role_names(props.get("Roles", props.get("RoleName", [])))
            for role in roles or [""]:
                add(role, logical_id, props["PolicyDocument"])
    return found


def roles(cfn: Mapping[str, Any], ev: Intrinsics) -> dict[str, Mapping[str, Any]]:
    return {k: v for k, v in active_resources(cfn, ev) if v["Type"] == "AWS::IAM::Role"}


def action_covers(pattern: str, action: str) -> bool:
    """Does the policy's action pattern (with * and ?) grant `action`?"""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def grants_any(statement: Statement, actions: tuple[str, ...]) -> list[str]:
    if statement.effect != "Allow":
        return []
    if statement.not_action:
        return [a for a in actions if not any(action_covers(p, a) for p in statement.actions)]
    return [a for a in actions if any(action_covers(p, a) for p in statement.actions)]


def is_read_only(pattern: str) -> bool:
    service, _, name = pattern.partition(":")
    if not name or "*" in service:
        return False
    if name == "*" or not name.startswith(READ_ONLY_PREFIXES):
        return False
    return not any(action_covers(pattern, data) for data in DATA_READ_ACTIONS)


def star_violations(statement: Statement) -> list[str]:
    """Actions this Allow statement grants on `*` that are neither read-only nor allow-listed."""
    if statement.effect != "Allow" or "*" not in statement.resources:
        return []
    if statement.not_action:
        return ["NotAction on *"]
    return [
        a
        for a in statement.actions
        if not is_read_only(a) and a not in STAR_ONLY_ALLOWED and not _pinned_by_condition(statement, a)
    ]


def _pinned_by_condition(statement: Statement, action: str) -> bool:
    key = STAR_ALLOWED_WITH_CONDITION.get(action)
    if key is None:
        return False
    for operator, entries in (statement.raw.get("Condition") or {}).items():
        if not operator.startswith(("StringEquals", "ArnEquals", "ArnLike", "StringLike")):
            continue
        for name, value in entries.items():
            values = value if isinstance(value, list) else [value]
            if name.lower() == key.lower() and values and all("*" not in str(v) for v in values):
                return True
    return False


def table_arn_match(resource: str) -> tuple[str, str] | None:
    """('table'|'dr-table'|'backup'|'other', name) for a DynamoDB ARN pattern, else None."""
    resource = re.sub(r"\$\{[^}]*\}", "*", resource)  # IAM policy variables such as the account
    match = re.match(r"^arn:[^:]*:dynamodb:[^:]*:[^:]*:table/(?P<rest>.*)$", resource)
    if not match:
        return None
    rest = match.group("rest")
    parts = rest.split("/")
    name = parts[0]
    if len(parts) == 1:
        if re.fullmatch(r"(?P<base>.+)-dr-.*", name):
            return ("dr-table", name)
        return ("table", name)
    if len(parts) == 3 and parts[1] == "backup":
        return ("backup", name)
    return ("other", name)


def is_restore_target(resource: str, protected: tuple[str, ...]) -> bool:
    """`arn:...:table/<protected>-dr-<anything>` or `table/*-dr-*` (the restore naming pattern:
    per-name ARN lists cannot be built with this account's ARN prefix in CloudFormation, so the
    restore namespace is every `*-dr-*` table of this account and region)."""
    kind_name = table_arn_match(resource)
    if not kind_name or kind_name[0] != "dr-table":
        return False
    name = kind_name[1]
    if re.fullmatch(r"\*-dr-(rehearsal-)?\*", name):
        return True
    return any(name.startswith(f"{p}-dr-") and "*" not in p for p in protected) and not name.startswith("*")


PROTECT_TAG_CONDITION = f"aws:ResourceTag/{paths.PROTECT_TAG_KEY}"
# Read-only stream access on every table of the account and region, with the reason it can't be
# narrower: a stream carries none of its table's tags (Streams ABAC is a separate account opt-in),
# and per-name ARN lists can't be built with the account's ARN prefix; the archiver only receives
# records from the mappings the follower creates on protected live tables.
STREAM_READS_ON_EVERY_TABLE = {
    ("CdcArchiverFunctionRole", "other", ("dynamodb:GetRecords", "dynamodb:GetShardIterator")),
}


def in_restore_namespace(resource: str) -> bool:
    """An index, stream or backup of a `*-dr-*` table (the tables the restore creates)."""
    kind_name = table_arn_match(resource)
    return bool(kind_name and re.fullmatch(r"\*-dr-(rehearsal-)?\*", kind_name[1]))


def tag_scoped(statement: Statement) -> bool:
    """The statement applies only to resources tagged dynamodb-dr:protect=<this stack>."""
    for operator, entries in (statement.raw.get("Condition") or {}).items():
        if operator not in {"StringEquals", "ForAllValues:StringEquals"}:
            continue
        for name, value in entries.items():
            values = value if isinstance(value, list) else [value]
            if name == PROTECT_TAG_CONDITION and values == [STACK_NAME]:
                return True
    return False


def tagging_pinned(statement: Statement) -> bool:
    """Tag/untag limited to the protect tag with this stack's value (the deploy's lifecycle)."""
    condition = statement.raw.get("Condition") or {}
    keys = condition.get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
    keys = keys if isinstance(keys, list) else [keys]
    value = condition.get("StringEquals", {})
    pinned_value = value.get(f"aws:RequestTag/{paths.PROTECT_TAG_KEY}") == STACK_NAME or tag_scoped(statement)
    only_tag_actions = all(a in {"dynamodb:TagResource", "dynamodb:UntagResource"} for a in statement.actions)
    return only_tag_actions and keys == [paths.PROTECT_TAG_KEY] and pinned_value


def is_protected_source(resource: str, protected: tuple[str, ...]) -> bool:
    kind_name = table_arn_match(resource)
    return bool(kind_name and kind_name[0] == "table" and kind_name[1] in protected)


def is_protected_backup(resource: str, protected: tuple[str, ...]) -> bool:
    kind_name = table_arn_match(resource)
    if not kind_name or kind_name[0] != "backup":
        return False
    name = kind_name[1]
    return name in protected or any(name == f"{p}-dr-*" for p in protected)


def allowed_table_resources(
    action: str, resource: str, protected: tuple[str, ...], statement: Statement | None = None
) -> bool:
    """Where a table-creating action may point. The new table is always `<name>-dr-*`; the
    restore actions are also authorised on their *source* (a protected table, i.e. one tagged for
    the stack, or its backups)."""
    if is_restore_target(resource, protected):
        return True
    if action == "dynamodb:RestoreTableFromBackup":
        return is_protected_backup(resource, protected)
    if action == "dynamodb:RestoreTableToPointInTime":
        if statement is not None and tag_scoped(statement) and table_arn_match(resource) == ("table", "*"):
            return True
        return is_protected_source(resource, protected)
    return False


def live_pointer_arns(protected: tuple[str, ...]) -> list[str]:
    return [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
        + paths.live_table_parameter(paths.stack_prefix(STACK_NAME), name)
        for name in protected
    ]


def resource_covers(pattern: str, arn: str) -> bool:
    """Does an IAM resource pattern (IAM policy variables count as wildcards) match `arn`?"""
    pattern = re.sub(r"\$\{[^}]*\}", "*", pattern)
    return fnmatch.fnmatchcase(arn, pattern)


def refers_to_kms_key(value: Any, cfn: Mapping[str, Any]) -> bool:
    """`!Ref Key`, `!GetAtt Key.Arn` or `!Sub ...${Key}` of a customer-managed AWS::KMS::Key here."""
    keys = {k for k, v in cfn.get("Resources", {}).items() if v.get("Type") == "AWS::KMS::Key"}
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] in keys
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical = target.split(".", 1)[0] if isinstance(target, str) else target[0]
            return logical in keys
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return any(f"${{{k}" in text for k in keys)
        if "Fn::If" in value:
            return all(refers_to_kms_key(v, cfn) for v in value["Fn::If"][1:])
    return False
