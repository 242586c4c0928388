"""A copy out of reach, on the emulator with two accounts: the stack in the production account
replicates its archive into the recovery vault of docs/cross-account/vault.yaml, deployed in
another account (COMPLIANCE Object Lock, its own key). Nobody in either account can delete a
replica; the production account losing its archive leaves the vault's copy whole."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cdc_support import allow_object_writes
from conftest import invoke
from restore_support import make_table

from dynamodb_dr.cdc.archive import ArchiveStore
from dynamodb_dr.cdc.model import read_object
from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator import DeployedStack, Emulator
from dynamodb_dr_local.emulator.postdeploy import apply_post_deploy
from dynamodb_dr_local.emulator.streams import monotonic_stream_sequences

pytestmark = pytest.mark.integration
VAULT_ACCOUNT = "210987654321"
VAULT_TEMPLATE = PROJECT_ROOT / "docs" / "cross-account" / "vault.yaml"


def vault_clients(emulator: Emulator) -> AwsClients:
    """Clients acting in the vault account (moto maps assumed-role credentials to their account)."""
    sts = emulator.clients.client("sts")
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{VAULT_ACCOUNT}:role/vault-admin", RoleSessionName="vault-admin"
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=emulator.region,
    )
    return AwsClients(region_name=emulator.region, session=session)


def deploy_vault(emulator: Emulator, source_stack: str) -> dict[str, str]:
    """vault.yaml in the vault account, with the S3 settings moto's CloudFormation skips applied."""
    from samtranslator.yaml_helper import yaml_parse

    clients = vault_clients(emulator)
    assert clients.client("sts").get_caller_identity()["Account"] == VAULT_ACCOUNT
    parameters = {"SourceAccountId": "123456789012", "SourceStackName": source_stack}
    cfn = clients.client("cloudformation")
    cfn.create_stack(
        StackName="dr-vault",
        TemplateBody=VAULT_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="dr-vault")["StackResources"]
        if "PhysicalResourceId" in r
    }
    template = dict(yaml_parse(VAULT_TEMPLATE.read_text()))
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    apply_post_deploy(clients, template, resources, {**defaults, **parameters}, stack_name="dr-vault")
    outputs = cfn.describe_stacks(StackName="dr-vault")["Stacks"][0]["Outputs"]
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


@pytest.fixture
def two_accounts() -> Iterator[tuple[Emulator, DeployedStack, dict[str, str]]]:
    with Emulator() as emulator:
        make_table(emulator, "customers", count=0)
        vault = deploy_vault(emulator, "dynamodb-dr")
        stack = emulator.deploy(
            parameters={
                "ProtectedTables": "customers",
                "ArchiveReplicaBucketArn": vault["VaultBucketArn"],
                "ArchiveReplicaRegion": emulator.region,
                "ArchiveReplicaKmsKeyId": vault["VaultKeyId"],
                "ArchiveReplicaAccountId": vault["VaultAccountId"],
            },
            stack_name="dynamodb-dr",
        )
        yield emulator, stack, vault


def _archive(emulator: Emulator, stack: DeployedStack) -> None:
    allow_object_writes(emulator, stack.outputs["ArchiveBucketName"])
    _, errored = invoke(emulator, stack.physical("CdcFollowerFunction"), {"task": "follow-streams"})
    assert not errored
    table = emulator.clients.session_resource("dynamodb").Table("customers")
    with monotonic_stream_sequences():
        for n in range(5):
            table.put_item(Item={"customer_id": f"v-{n}", "email": f"v{n}@example.com"})


def _current(s3: Any, bucket: str, prefix: str = "cdc/") -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_the_archive_replicates_into_a_locked_vault_in_another_account(
    two_accounts: tuple[Emulator, DeployedStack, dict[str, str]],
) -> None:
    emulator, stack, vault = two_accounts
    vault_bucket = vault["VaultBucketArn"].rsplit(":", 1)[-1]
    vault_s3 = vault_clients(emulator).client("s3")
    assert vault_bucket not in [b["Name"] for b in emulator.clients.client("s3").list_buckets()["Buckets"]]
    config = emulator.clients.client("s3").get_bucket_replication(Bucket=stack.outputs["ArchiveBucketName"])
    destination = config["ReplicationConfiguration"]["Rules"][0]["Destination"]
    assert destination["Account"] == VAULT_ACCOUNT
    assert destination["AccessControlTranslation"] == {"Owner": "Destination"}
    assert destination["EncryptionConfiguration"]["ReplicaKmsKeyID"].split(":")[4] == VAULT_ACCOUNT

    _archive(emulator, stack)
    source = _current(emulator.clients.client("s3"), stack.outputs["ArchiveBucketName"])
    replicas = _current(vault_s3, vault_bucket)
    assert source and replicas == source  # every CDC object, byte for byte
    changes = [
        c for key, body in replicas.items() if key.endswith(".jsonl.gz") for c in read_object(body, key)
    ]
    assert sorted(c.keys["customer_id"]["S"] for c in changes) == [f"v-{n}" for n in range(5)]

    for key in replicas:
        head = vault_s3.head_object(Bucket=vault_bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["SSEKMSKeyId"].endswith(vault["VaultKeyId"])  # the vault's own key
        version = head["VersionId"]
        for who, s3 in (("production", emulator.clients.client("s3")), ("vault", vault_s3)):
            with pytest.raises(ClientError) as refused:
                s3.delete_object(Bucket=vault_bucket, Key=key, VersionId=version)
            # 403 AccessDenied: Object Lock (and, for production, the vault's bucket policy)
            assert refused.value.response["Error"]["Code"] in {"AccessDenied", "403"}, who

    # A compromised production account destroys its own archive: the vault still has everything.
    production = emulator.clients.client("s3")
    bucket = stack.outputs["ArchiveBucketName"]
    for page in production.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            production.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    assert _current(production, bucket) == {}
    assert _current(vault_s3, vault_bucket) == replicas
    store = ArchiveStore(vault_s3, vault_bucket)  # the CLI's archive commands read the vault the same way
    assert sorted(store.keys("cdc/")) == sorted(replicas)


def test_the_vault_policy_lets_only_the_stacks_replication_role_write_and_nobody_there_delete(
    two_accounts: tuple[Emulator, DeployedStack, dict[str, str]],
) -> None:
    emulator, stack, vault = two_accounts
    vault_bucket = vault["VaultBucketArn"].rsplit(":", 1)[-1]
    policy = json.loads(vault_clients(emulator).client("s3").get_bucket_policy(Bucket=vault_bucket)["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    writer = statements["SourceReplicationRoleWritesReplicas"]
    role = emulator.clients.client("iam").get_role(RoleName=stack.physical("ArchiveReplicationRole"))["Role"][
        "Arn"
    ]
    assert fnmatch.fnmatchcase(role, writer["Condition"]["ArnLike"]["aws:PrincipalArn"])
    assert "s3:ReplicateDelete" not in writer["Action"]
    no_delete = statements["NoDeletesFromTheSourceAccount"]
    assert no_delete["Effect"] == "Deny" and no_delete["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:root"
    }
    assert {"s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"} <= set(no_delete["Action"])
