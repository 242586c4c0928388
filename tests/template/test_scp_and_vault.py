"""Governance artefacts checked statically: the sample SCPs (valid IAM, linted with parliament,
within the SCP size quota, denying what docs/deploy.md says), the vault template (cfn-lint, lock,
own key, no deletes from the source account), and the archive's lifecycle in template.yaml."""

from __future__ import annotations

import json
from typing import Any

from dynamodb_dr.exports.expiry import EXPIRY_TAG_KEY, EXPIRY_TAG_VALUE
from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.stack import load_sam_template

SCP = PROJECT_ROOT / "docs" / "scp" / "dynamodb-dr-guardrails.json"
VAULT = PROJECT_ROOT / "docs" / "cross-account" / "vault.yaml"
SCP_MAX_CHARACTERS = 5120  # AWS Organizations quota for one SCP (whitespace counts)


def _scp() -> dict[str, Any]:
    return dict(json.loads(SCP.read_text()))


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def test_the_sample_scps_deny_what_the_docs_promise() -> None:
    policy = _scp()
    assert policy["Version"] == "2012-10-17"
    assert len(json.dumps(policy, separators=(",", ":"))) <= SCP_MAX_CHARACTERS
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Deny" for s in statements.values())
    denied = set().union(*(_actions(s) for s in statements.values()))
    assert "dynamodb:UpdateContinuousBackups" in denied  # turning PITR off
    assert "dynamodb:DeleteBackup" in denied  # deleting backups
    assert {"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration"} <= denied
    for statement in statements.values():  # every deny spares only named roles, never everyone
        exempt = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        exempt = exempt if isinstance(exempt, list) else [exempt]
        assert all(
            arn.startswith("arn:aws:iam::*:role/") and arn != "arn:aws:iam::*:role/*" for arn in exempt
        )
    pitr = statements["OnlyTheToolAndBreakGlassChangePitr"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert "arn:aws:iam::*:role/STACK_NAME-BackupFunctionRole-*" in pitr  # the PITR guard still works


def test_the_sample_scps_pass_parliament() -> None:
    import parliament

    findings = parliament.analyze_policy_string(SCP.read_text()).findings
    problems = [f"{f.issue} {f.detail}" for f in findings if f.severity in ("HIGH", "MEDIUM", "CRITICAL")]
    assert not problems


def test_the_vault_template_passes_cfn_lint_and_locks_with_its_own_key() -> None:
    from cfnlint.api import lint_file

    matches = [m for m in lint_file(VAULT) if m.rule.severity == "error"]
    assert not matches, [str(m) for m in matches]
    from samtranslator.yaml_helper import yaml_parse

    resources = dict(yaml_parse(VAULT.read_text()))["Resources"]
    bucket = resources["VaultBucket"]["Properties"]
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::GetAtt": ["VaultKey", "Arn"]
    }
    statements = {
        s["Sid"]: s for s in resources["VaultBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert statements["NoDeletesFromTheSourceAccount"]["Effect"] == "Deny"
    assert "s3:ReplicateDelete" not in _actions(statements["SourceReplicationRoleWritesReplicas"])


def test_the_archive_lifecycle_expires_the_cdc_archive_and_only_tagged_exports() -> None:
    rules = {
        r["Id"]: r
        for r in load_sam_template()["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ]
    }
    assert rules["Expiration"]["Prefix"] == "cdc/"
    exports = rules["ExpireExportsNoRestorePointNeeds"]
    assert exports["Prefix"] == "exports/"
    assert exports["TagFilters"] == [{"Key": EXPIRY_TAG_KEY, "Value": EXPIRY_TAG_VALUE}]
    prefixes = {r.get("Prefix") for r in rules.values() if "ExpirationInDays" in r}
    assert prefixes == {"cdc/", "exports/"}  # the erasure list (erasures/) never expires
    parameters = load_sam_template()["Parameters"]
    for name in (
        "ArchiveExpirationDays",
        "ExportRetentionDays",
        "BackupRetentionDays",
        "MonthlyBackupRetentionDays",
    ):
        assert 0 < int(parameters[name]["Default"]) <= 365, name  # finite by default
