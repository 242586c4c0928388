"""Apply what moto's CloudFormation skips on S3 after `create_stack`, from the transformed template.

moto 5.2.5 creates an `AWS::S3::Bucket` with its encryption and tags only, and does not apply
`AWS::S3::BucketPolicy` at all. A deployed emulator stack would then look less protected than the
real one (no versioning, no Object Lock, no TLS-only policy) and tests of those protections would
test nothing. This module applies, for every bucket of the stack:

- VersioningConfiguration, PublicAccessBlockConfiguration, OwnershipControls,
  ObjectLockConfiguration (bucket still empty, right after create) and LifecycleConfiguration;
- every `AWS::S3::BucketPolicy` (its `Bucket` and `PolicyDocument` resolved).

It resolves the intrinsics these use with `emulator/intrinsics.py`.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from dynamodb_dr_local.emulator.intrinsics import (
    NO_VALUE,
    Intrinsics,
    UnsupportedIntrinsic,
    emulator_intrinsics,
)

# The template tests import these from here too.
__all__ = ["NO_VALUE", "Intrinsics", "UnsupportedIntrinsic", "apply_post_deploy", "emulator_intrinsics"]

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
