"""The gate's policy evaluation follows IAM's documented rules (each case is one rule)."""

from __future__ import annotations

import pytest

from iam.evaluate import NamedPolicy, PolicyError, Request, decide

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
CONTEXT = {"aws:principalaccount": ACCOUNT, "aws:resourcetag/team": "payments", "aws:securetransport": "true"}


def allowed(*statements: dict, version: str | None = "2012-10-17", action: str = "dynamodb:GetItem",
            resource: str = TABLE, context: dict | None = None) -> bool:  # fmt: skip
    document: dict = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    return decide([NamedPolicy("p", document)], Request(action, resource, context or CONTEXT)).allowed


def allow(**extra: object) -> dict:
    return {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE, **extra}


def test_policy_variables_work_only_in_version_2012_10_17():
    statement = allow(Resource="arn:aws:dynamodb:us-east-1:${aws:PrincipalAccount}:table/orders")
    assert allowed(statement)
    assert not allowed(statement, version=None)  # defaults to 2008-10-17: the variable is literal text
    assert not allowed(statement, version="2008-10-17")


def test_a_variable_missing_from_the_context_matches_nothing_unless_defaulted():
    assert not allowed(allow(Resource="arn:aws:dynamodb:us-east-1:${aws:username}:table/orders"))
    assert allowed(allow(Resource=f"arn:aws:dynamodb:us-east-1:${{aws:username, '{ACCOUNT}'}}:table/orders"))


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("dynamodb:*", True),
        ("DynamoDB:getitem", True),  # actions are case-insensitive
        ("dynamodb:Get?tem", True),
        ("dynamodb:Get", False),
        ("dynamodb:*Items", False),
        ("s3:*", False),
        ("*", True),
    ],
)
def test_action_wildcards(pattern, matches):
    assert allowed(allow(Action=pattern)) is matches


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("arn:aws:dynamodb:us-east-1:*:table/*", True),
        ("arn:aws:dynamodb:*:*:table/ord?rs", True),
        ("arn:aws:dynamodb:us-east-1:*:table/Orders", False),  # ARNs are case-sensitive
        ("arn:aws:dynamodb:eu-west-1:*:table/*", False),
        ("arn:aws:dynamodb:us-east-1:*:table/orders/*", False),
        ("arn:aws:dynamodb:us-east-1:*:*", True),  # the resource part spans the rest
        ("*", True),
    ],
)
def test_resource_wildcards_match_each_arn_part(pattern, matches):
    assert allowed(allow(Resource=pattern)) is matches


def test_not_action_and_not_resource_invert_the_match():
    assert allowed({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})
    assert not allowed({"Effect": "Allow", "NotAction": "dynamodb:*", "Resource": "*"})
    assert allowed({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::*"})
    assert not allowed({"Effect": "Allow", "Action": "*", "NotResource": TABLE})


def test_an_explicit_deny_wins_over_any_allow():
    assert not allowed(allow(), {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"})
    assert allowed(allow(), {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"})
    assert not allowed()  # nothing allows: the implicit deny


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"StringEquals": {"aws:ResourceTag/team": "payments"}}, True),
        ({"StringEquals": {"aws:ResourceTag/team": ["x", "payments"]}}, True),  # values are ORed
        ({"StringEquals": {"aws:ResourceTag/team": "Payments"}}, False),
        ({"StringEqualsIgnoreCase": {"aws:ResourceTag/team": "Payments"}}, True),
        ({"StringLike": {"aws:ResourceTag/team": "pay*"}}, True),
        ({"StringNotEquals": {"aws:ResourceTag/team": "payments"}}, False),
        ({"StringNotLike": {"aws:ResourceTag/team": "x*"}}, True),
        # keys absent from the request: positive operators fail, negated ones pass
        ({"StringEquals": {"aws:ResourceTag/owner": "me"}}, False),
        ({"StringNotEquals": {"aws:ResourceTag/owner": "me"}}, True),
        ({"StringEqualsIfExists": {"aws:ResourceTag/owner": "me"}}, True),
        ({"Null": {"aws:ResourceTag/owner": "true"}}, True),
        ({"Null": {"aws:ResourceTag/team": "true"}}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, False),  # absent key
        # several operators and keys are ANDed
        (
            {"StringEquals": {"aws:ResourceTag/team": "payments"}, "Bool": {"aws:SecureTransport": "false"}},
            False,
        ),
    ],
)
def test_condition_operators(condition, holds):
    assert allowed(allow(Condition=condition)) is holds


def test_set_operators_over_multivalued_keys():
    tags = {**CONTEXT, "aws:tagkeys": ["dynamodb-dr:protect", "team"]}
    only_protect = {"ForAllValues:StringEquals": {"aws:TagKeys": ["dynamodb-dr:protect"]}}
    assert not allowed(allow(Condition=only_protect), context=tags)
    assert allowed(allow(Condition=only_protect), context={**CONTEXT, "aws:tagkeys": ["dynamodb-dr:protect"]})
    assert allowed(allow(Condition=only_protect))  # ForAllValues on an absent key is true
    any_team = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}
    assert allowed(allow(Condition=any_team), context=tags)
    assert not allowed(allow(Condition=any_team))


def test_policy_variables_inside_condition_values():
    condition = {"StringEquals": {"aws:ResourceTag/team": "${aws:ResourceTag/team}"}}
    assert allowed(allow(Condition=condition))
    assert not allowed(allow(Condition=condition), version=None)


def test_unknown_operators_are_rejected_like_iam_does():
    with pytest.raises(PolicyError):
        allowed(allow(Condition={"StringMatches": {"aws:ResourceTag/team": "payments"}}))
