"""The emulator applies what moto's CloudFormation skips on S3 (emulator/postdeploy.py)."""

from __future__ import annotations

import json

import pytest
from security_support import deploy

from dynamodb_dr_local.emulator import Emulator
from dynamodb_dr_local.emulator.postdeploy import Intrinsics, UnsupportedIntrinsic

pytestmark = pytest.mark.integration


def test_bucket_policy_and_settings_are_applied(emulator: Emulator, customers: str) -> None:
    stack = deploy(emulator, customers)
    s3 = emulator.clients.client("s3")
    bucket = stack.physical("ArchiveBucket")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    [statement] = [st for st in policy["Statement"] if st.get("Sid") == "DenyInsecureTransport"]
    assert statement["Effect"] == "Deny"
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["NoncurrentVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    # The TLS-only deny does not apply to the emulator's HTTPS requests.
    s3.put_object(Bucket=bucket, Key="exports/probe", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="exports/probe")["Body"].read() == b"x"


def test_a_deny_whose_condition_holds_still_denies(emulator: Emulator) -> None:
    from dynamodb_dr_local.emulator.postdeploy import install_moto_conditional_deny_fix

    install_moto_conditional_deny_fix()
    s3 = emulator.clients.client("s3")
    s3.create_bucket(Bucket="guarded")
    s3.put_bucket_policy(
        Bucket="guarded",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::guarded/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                    }
                ],
            }
        ),
    )
    with pytest.raises(Exception, match=r"Forbidden|AccessDenied|403"):
        s3.put_object(Bucket="guarded", Key="k", Body=b"x")


def test_intrinsics_resolver() -> None:
    template = {
        "Parameters": {"Tables": {"Type": "CommaDelimitedList"}, "Mode": {"Type": "String", "Default": ""}},
        "Conditions": {"ModeOn": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Mode"}, ""]}]}},
        "Resources": {"B": {"Type": "AWS::S3::Bucket"}},
    }
    ev = Intrinsics(
        template,
        {"Tables": "a,b"},
        ref=lambda logical: f"phys-{logical}",
        get_att=lambda logical, attr: f"arn:aws:s3:::phys-{logical}",
        pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "1"},
    )
    assert ev.resolve({"Fn::Sub": "${B.Arn}/*"}) == "arn:aws:s3:::phys-B/*"
    assert ev.resolve({"Fn::Sub": "${B}:${AWS::Region}:${aws:PrincipalAccount}:${!Literal}"}) == (
        "phys-B:us-east-1:${aws:PrincipalAccount}:${Literal}"
    )
    assert ev.resolve({"Fn::Split": [",", {"Fn::Join": ["-x,", {"Ref": "Tables"}]}]}) == ["a-x", "b"]
    assert ev.resolve({"Fn::If": ["ModeOn", 1, {"Ref": "AWS::NoValue"}]}) is not None
    assert ev.resolve({"K": {"Fn::If": ["ModeOn", 1, {"Ref": "AWS::NoValue"}]}}) == {}
    assert ev.resolve({"Fn::Select": [1, {"Ref": "Tables"}]}) == "b"
    with pytest.raises(UnsupportedIntrinsic):
        ev.resolve({"Fn::ImportValue": "x"})
