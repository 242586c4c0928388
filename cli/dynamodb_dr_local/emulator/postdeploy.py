"""Apply what moto's CloudFormation skips on S3 after `create_stack`, from the transformed template.

moto 5.2.5 creates an `AWS::S3::Bucket` with its encryption and tags only, and does not apply
`AWS::S3::BucketPolicy` at all. A deployed emulator stack would then look less protected than the
real one (no versioning, no Object Lock, no TLS-only policy) and tests of those protections would
test nothing. This module applies, for every bucket of the stack:

- VersioningConfiguration, PublicAccessBlockConfiguration, OwnershipControls,
  ObjectLockConfiguration (bucket still empty, right after create) and LifecycleConfiguration;
- every `AWS::S3::BucketPolicy` (its `Bucket` and `PolicyDocument` resolved).

It resolves the simple intrinsics these use with :class:`Intrinsics` (Ref, Fn::GetAtt, Fn::Sub,
Fn::Join, Fn::Split, Fn::Select, Fn::If and conditions), which the template tests reuse.
"""

from __future__ import annotations

import fnmatch
import json
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

NO_VALUE: Any = object()  # AWS::NoValue: the key or list entry disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnsupportedIntrinsic(ValueError):
    """The template uses an intrinsic function this small resolver does not evaluate."""


class Intrinsics:
    """Evaluates CloudFormation intrinsic functions against known parameter values.

    `ref(logical_id)` and `get_att(logical_id, attribute)` give resources' values: physical ids in
    the emulator, placeholders in static template tests. `${aws:...}` IAM policy variables inside
    `Fn::Sub` strings are left as they are (IAM evaluates them, not CloudFormation).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        pseudo: Mapping[str, str],
    ) -> None:
        self._template = template
        self._ref = ref
        self._get_att = get_att
        self._pseudo = dict(pseudo)
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = parameters.get(name, spec.get("Default"))
            if raw is None:
                continue
            raw = str(raw) if not isinstance(raw, list) else raw
            if spec.get("Type") == "CommaDelimitedList" and isinstance(raw, str):
                self.parameters[name] = [part.strip() for part in raw.split(",")]
            else:
                self.parameters[name] = raw
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self._template.get("Conditions", {}).get(name)
            if spec is None:
                raise UnsupportedIntrinsic(f"unknown condition {name!r}")
            self._conditions[name] = bool(self._condition_value(spec))
        return self._conditions[name]

    def _condition_value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._condition_value(value[0])
            if key == "Fn::And":
                return all(self._condition_value(v) for v in value)
            if key == "Fn::Or":
                return any(self._condition_value(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return self.resolve(node)

    # ------------------------------------------------------------------ values
    def resolve(self, node: Any) -> Any:
        """The value of `node`, with every intrinsic evaluated (NO_VALUE entries removed)."""
        if isinstance(node, list):
            resolved = [self.resolve(item) for item in node]
            return [item for item in resolved if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._resolve_ref(value)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, value)
        resolved_dict = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved_dict.items() if value is not NO_VALUE}

    def _resolve_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self._template.get("Resources", {}):
            return self._ref(name)
        raise UnsupportedIntrinsic(f"Ref to unknown name {name!r}")

    def _function(self, key: str, value: Any) -> Any:  # noqa: PLR0911 - one branch per function
        if key == "Fn::GetAtt":
            logical_id, attribute = value.split(".", 1) if isinstance(value, str) else value
            return self._get_att(logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
            return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
        if key == "Fn::Join":
            separator, items = value
            parts = self.resolve(items)
            return str(separator).join(str(part) for part in parts)
        if key == "Fn::Split":
            separator, text = value
            return str(self.resolve(text)).split(separator)
        if key == "Fn::Select":
            index, items = value
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::If":
            name, when_true, when_false = value
            return self.resolve(when_true if self.condition(name) else when_false)
        if key in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
            return self._condition_value({key: value})
        raise UnsupportedIntrinsic(f"{key} is not supported")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name in self._pseudo or name in self.parameters:
                value = self._resolve_ref(name)
                return ",".join(value) if isinstance(value, list) else str(value)
            if "." in name and name.split(".", 1)[0] in self._template.get("Resources", {}):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            if name in self._template.get("Resources", {}):
                return str(self._ref(name))
            if ":" in name and "::" not in name:
                return match.group(0)  # an IAM policy variable such as ${aws:PrincipalAccount}
            raise UnsupportedIntrinsic(f"Fn::Sub variable {name!r} is unknown")

        return _SUB_VARIABLE.sub(replace, text)

    def is_active(self, resource: Mapping[str, Any]) -> bool:
        """False when the resource has a `Condition` that evaluates to false."""
        name = resource.get("Condition")
        return True if name is None else self.condition(name)


# ---------------------------------------------------------------------- emulator side
def emulator_intrinsics(
    template: Mapping[str, Any],
    resources: Mapping[str, str],
    parameters: Mapping[str, str],
    *,
    stack_name: str,
    region: str,
    account_id: str,
) -> Intrinsics:
    """Intrinsics resolved against a stack deployed in the emulator (physical ids known)."""
    types = {logical: spec.get("Type", "") for logical, spec in template.get("Resources", {}).items()}

    def ref(logical_id: str) -> str:
        return resources[logical_id]

    def get_att(logical_id: str, attribute: str) -> str:
        if types.get(logical_id) == "AWS::S3::Bucket":
            if attribute == "Arn":
                return f"arn:aws:s3:::{resources[logical_id]}"
            if attribute == "DomainName":
                return f"{resources[logical_id]}.s3.amazonaws.com"
        if types.get(logical_id) == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{region}:{account_id}:key/{resources[logical_id]}"
        raise UnsupportedIntrinsic(f"Fn::GetAtt {logical_id}.{attribute} is not resolved after deploy")

    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    return Intrinsics(template, parameters, ref=ref, get_att=get_att, pseudo=pseudo)


BUCKET_SETTINGS = frozenset(
    {
        "VersioningConfiguration",
        "ObjectLockEnabled",
        "ObjectLockConfiguration",
        "PublicAccessBlockConfiguration",
        "OwnershipControls",
        "LifecycleConfiguration",
    }
)


REQUEST_CONTEXT = {"aws:securetransport": "true"}  # the emulator's requests, as IAM sees them


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool | None:
    """IAM condition evaluation for the operators bucket policies use; None when unknown."""
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    values = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
    actual = context.get(key.lower())
    if base == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if actual is None:
        return if_exists
    checks: dict[str, Callable[[], bool]] = {
        "Bool": lambda: actual.lower() in {v.lower() for v in values},
        "StringEquals": lambda: actual in values,
        "StringEqualsIgnoreCase": lambda: actual.lower() in {v.lower() for v in values},
        "StringNotEquals": lambda: actual not in values,
        "StringLike": lambda: any(fnmatch.fnmatchcase(actual, v) for v in values),
        "StringNotLike": lambda: not any(fnmatch.fnmatchcase(actual, v) for v in values),
        "ArnEquals": lambda: actual in values,
        "ArnLike": lambda: any(fnmatch.fnmatchcase(actual, v) for v in values),
    }
    check = checks.get(base)
    return None if check is None else check()


def install_moto_conditional_deny_fix() -> None:
    """moto 5.2.5 evaluates only `StringEquals` in bucket-policy conditions and ignores the rest,
    so `Deny s3:* when aws:SecureTransport is false` (the TLS-only policy) refuses every object
    request in the emulator. Deny statements with conditions are evaluated here instead, with the
    context of the emulator's requests (HTTPS: `aws:SecureTransport` is "true"); as in IAM, a
    statement whose conditions do not hold does not apply. Unknown operators keep moto's
    behaviour. Process-wide and idempotent; Allow statements are unchanged.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted
    if getattr(original, "_dynamodb_dr_fixed", False):
        return

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        statement = self._statement
        conditions = statement.get("Condition")
        if statement.get("Effect") == "Deny" and isinstance(conditions, dict):
            incoming = {k.lower(): v for k, v in (incoming_condition_values or {}).items()}
            context = {**REQUEST_CONTEXT, **incoming}
            results = [
                _condition_holds(operator, key, expected, context)
                for operator, entries in conditions.items()
                for key, expected in entries.items()
            ]
            if None not in results and not all(results):
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    is_action_permitted._dynamodb_dr_fixed = True  # type: ignore[attr-defined]
    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def apply_post_deploy(
    clients: Any,
    template: Mapping[str, Any],
    resources: Mapping[str, str],
    parameters: Mapping[str, str],
    *,
    stack_name: str,
) -> list[str]:
    """Apply the S3 settings moto's CloudFormation skipped. Returns what was applied (for logs)."""
    s3 = clients.client("s3")
    sts = clients.client("sts")
    intrinsics = emulator_intrinsics(
        template,
        resources,
        parameters,
        stack_name=stack_name,
        region=s3.meta.region_name,
        account_id=sts.get_caller_identity()["Account"],
    )
    install_moto_conditional_deny_fix()
    applied: list[str] = []
    template_resources = template.get("Resources", {})
    for logical_id, resource in template_resources.items():
        if resource.get("Type") != "AWS::S3::Bucket" or logical_id not in resources:
            continue
        if not intrinsics.is_active(resource):
            continue
        try:
            properties = intrinsics.resolve(
                {k: v for k, v in resource.get("Properties", {}).items() if k in BUCKET_SETTINGS}
            )
        except UnsupportedIntrinsic as exc:
            warnings.warn(f"emulator: {logical_id} settings not applied: {exc}", stacklevel=2)
            continue
        applied.extend(_apply_bucket(s3, resources[logical_id], logical_id, properties))
    for logical_id, resource in template_resources.items():
        if resource.get("Type") != "AWS::S3::BucketPolicy" or not intrinsics.is_active(resource):
            continue
        try:
            properties = intrinsics.resolve(resource.get("Properties", {}))
        except UnsupportedIntrinsic as exc:
            warnings.warn(f"emulator: {logical_id} not applied: {exc}", stacklevel=2)
            continue
        s3.put_bucket_policy(Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"]))
        applied.append(f"{logical_id}: bucket policy")
    return applied


def _apply_bucket(s3: Any, bucket: str, logical_id: str, properties: Mapping[str, Any]) -> list[str]:
    applied: list[str] = []
    versioning = properties.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning["Status"]})
        applied.append(f"{logical_id}: versioning {versioning['Status']}")
    lock = properties.get("ObjectLockConfiguration")
    if lock and str(properties.get("ObjectLockEnabled", "")).lower() == "true":
        configuration: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        retention = lock.get("Rule", {}).get("DefaultRetention")
        if retention:
            configuration["Rule"] = {
                "DefaultRetention": {
                    "Mode": retention["Mode"],
                    **({"Days": int(retention["Days"])} if "Days" in retention else {}),
                    **({"Years": int(retention["Years"])} if "Years" in retention else {}),
                }
            }
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=configuration)
        applied.append(f"{logical_id}: object lock")
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={key: _bool(value) for key, value in block.items()},
        )
        applied.append(f"{logical_id}: public access block")
    ownership = properties.get("OwnershipControls")
    if ownership:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership)
        applied.append(f"{logical_id}: ownership controls")
    lifecycle = properties.get("LifecycleConfiguration")
    if lifecycle and lifecycle.get("Rules"):
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle["Rules"]]}
        )
        applied.append(f"{logical_id}: lifecycle")
    return applied


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape -> the S3 API's."""
    api: dict[str, Any] = {
        "ID": rule.get("Id", ""),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    return api
