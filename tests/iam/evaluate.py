"""IAM policy evaluation for identity policies, as IAM documents it.

- `Version`: "2012-10-17" substitutes policy variables (`${aws:PrincipalAccount}`, `${*}`, ...);
  a document without it is "2008-10-17", where `${...}` is literal text.
- Action: case-insensitive, `*` and `?` wildcards; NotAction inverts.
- Resource: each of the six colon-separated ARN parts matched on its own with `*`/`?` (the last
  part may hold colons and slashes); NotResource inverts.
- Condition: every operator the IAM reference lists for strings, ARNs, booleans, numbers, dates,
  IP-less keys, `Null`, the `...IfExists` suffix and the `ForAllValues:`/`ForAnyValue:` set
  prefixes; keys within a block are ANDed, values of one key ORed; a key absent from the request
  context fails a positive operator and passes a negated one (StringNotEquals, ...).
- Decision: an explicit Deny wins, then any Allow, else the implicit deny.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MODERN_VERSION = "2012-10-17"
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Request:
    action: str  # "dynamodb:DescribeTable"
    resource: str  # an ARN or "*"
    context: Mapping[str, Any]  # condition keys (lower-cased) -> str | bool | list[str]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed by Sid X", "explicitly denied by ...", "no statement allows it"


class PolicyError(ValueError):
    """A policy document IAM would reject (unknown operator, bad shape)."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _glob(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def substitute(text: str, context: Mapping[str, Any], version: str | None) -> str | None:
    """Replace policy variables (2012-10-17 only). None when a variable has no single value in the
    request context: IAM then treats the element as matching nothing."""
    if version != MODERN_VERSION:
        return text

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in {"*", "?", "$"}:
            return name
        if "," in name:  # ${key, 'default'}
            key, default = (part.strip() for part in name.split(",", 1))
            value = context.get(key.lower())
            return str(value) if isinstance(value, str) else default.strip("'")
        value = context.get(name.lower())
        if not isinstance(value, str):
            raise LookupError(name)
        return value

    try:
        return _VARIABLE.sub(one, text)
    except LookupError:
        return None


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, case_sensitive=False)


def arn_matches(pattern: str, arn: str) -> bool:
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return _glob(pattern, arn, case_sensitive=True)
    return all(_glob(p, a, case_sensitive=True) for p, a in zip(pattern_parts, arn_parts, strict=True))


# ------------------------------------------------------------------------------------ conditions
def _string(op: str, policy: str, value: str) -> bool:
    if op in {"StringEquals", "StringNotEquals"}:
        return policy == value
    if op in {"StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}:
        return policy.lower() == value.lower()
    return _glob(policy, value, case_sensitive=True)  # StringLike / StringNotLike


def _arn(op: str, policy: str, value: str) -> bool:
    if op in {"ArnEquals", "ArnNotEquals"}:
        return policy == value
    return arn_matches(policy, value)


def _ordered(comparison: str, a: float, b: float) -> bool:
    """The comparisons numbers and dates share ("NotEquals" compares as "Equals": negated later)."""
    return {
        "Equals": a == b,
        "NotEquals": a == b,
        "LessThan": a < b,
        "LessThanEquals": a <= b,
        "GreaterThan": a > b,
        "GreaterThanEquals": a >= b,
    }[comparison]


def _number(op: str, policy: str, value: str) -> bool:
    return _ordered(op.removeprefix("Numeric"), float(value), float(policy))


def _date(op: str, policy: str, value: str) -> bool:
    def parse(text: str) -> float:
        return (
            float(text) if text.isdigit() else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        )

    return _ordered(op.removeprefix("Date"), parse(value), parse(policy))


NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
    "DateNotEquals",
}
STRING_OPS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
}
ARN_OPS = {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
NUMERIC_OPS = {
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
}
DATE_OPS = {
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
}
OPERATORS = STRING_OPS | ARN_OPS | NUMERIC_OPS | DATE_OPS | {"Bool", "BinaryEquals", "Null"}


def split_operator(raw: str) -> tuple[str | None, str, bool]:
    """("ForAllValues:StringEqualsIfExists") -> ("ForAllValues", "StringEquals", True)."""
    qualifier, _, op = raw.rpartition(":")
    if qualifier not in {"", "ForAllValues", "ForAnyValue"}:
        raise PolicyError(f"unknown condition set qualifier {qualifier!r}")
    if_exists = op.endswith("IfExists") and op != "Null"
    base = op[: -len("IfExists")] if if_exists else op
    if base not in OPERATORS:
        raise PolicyError(f"unknown condition operator {raw!r}")
    return qualifier or None, base, if_exists


def _single(base: str, policy: str, value: Any) -> bool:
    if base in STRING_OPS:
        return _string(base, policy, str(value))
    if base in ARN_OPS:
        return _arn(base, policy, str(value))
    if base in NUMERIC_OPS:
        return _number(base, policy, str(value))
    if base in DATE_OPS:
        return _date(base, policy, str(value))
    if base == "Bool":
        return str(value).lower() == policy.lower()
    return str(value) == policy  # BinaryEquals


def condition_holds(
    raw_operator: str, key: str, policy_values: Any, context: Mapping[str, Any], version: str | None
) -> bool:
    qualifier, base, if_exists = split_operator(raw_operator)
    present = key.lower() in context and context[key.lower()] is not None
    values = [substitute(str(v), context, version) for v in _as_list(policy_values)]
    values = [v for v in values if v is not None]
    if base == "Null":
        wanted = str(_as_list(policy_values)[0]).lower() == "true"
        return (not present) == wanted
    if not present:
        if qualifier == "ForAllValues":
            return True
        if if_exists:
            return True
        return base in NEGATED
    request_values = _as_list(context[key.lower()])
    negated = base in NEGATED

    def matches(value: Any) -> bool:
        hit = any(_single(base, p, value) for p in values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in request_values)
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in request_values)
    if len(request_values) != 1:
        # A multi-valued key without a set qualifier: IAM compares it as one value (rarely true).
        return False
    return matches(request_values[0])


def conditions_hold(
    block: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any], version: str | None
) -> bool:
    for operator, keys in (block or {}).items():
        for key, values in keys.items():
            if not condition_holds(operator, key, values, context, version):
                return False
    return True


# ------------------------------------------------------------------------------------ statements
def statement_applies(statement: Mapping[str, Any], request: Request, version: str | None) -> bool:
    context = request.context
    return (
        _element_covers(statement, "Action", request.action, action_matches, context, version)
        and _element_covers(statement, "Resource", request.resource, arn_matches, context, version)
        and conditions_hold(statement.get("Condition"), context, version)
    )


def _element_covers(
    statement: Mapping[str, Any],
    element: str,
    value: str,
    matches: Callable[[str, str], bool],
    context: Mapping[str, Any],
    version: str | None,
) -> bool:
    """`value` matches a pattern of the statement's `element` (Action, Resource), or none of its
    negation's (NotAction, NotResource)."""
    negation = f"Not{element}"
    if element in statement:
        listed, inside = statement[element], True
    elif negation in statement:
        listed, inside = statement[negation], False
    else:
        raise PolicyError(f"statement has neither {element} nor {negation}")
    patterns = [substitute(p, context, version) for p in _as_list(listed)]
    return any(p is not None and matches(p, value) for p in patterns) == inside


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    document: Mapping[str, Any]


def decide(policies: Sequence[NamedPolicy], request: Request) -> Decision:
    allowed_by: str | None = None
    for policy in policies:
        version = policy.document.get("Version")
        for index, statement in enumerate(_as_list(policy.document.get("Statement"))):
            if not statement_applies(statement, request, version):
                continue
            where = f"{policy.name}:{statement.get('Sid') or index}"
            if statement.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {where}")
            if statement.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = where
    if allowed_by:
        return Decision(True, f"allowed by {allowed_by}")
    return Decision(False, "no statement allows it (implicit deny)")


def condition_operators(policies: Iterable[NamedPolicy]) -> set[str]:
    return {
        op
        for p in policies
        for s in _as_list(p.document.get("Statement"))
        for op in (s.get("Condition") or {})
    }


def condition_keys(policies: Iterable[NamedPolicy]) -> set[str]:
    return {
        key
        for p in policies
        for s in _as_list(p.document.get("Statement"))
        for keys in (s.get("Condition") or {}).values()
        for key in keys
    }
