"""Security gate on the samtranslator-transformed template: checkov, plus our own IAM and
encryption assertions. Generic over every role, bucket, queue, topic, function and log group, so
resources that land later are gated without editing this file. See SECURITY.md."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import security_checks as sc
from gates import report_gate

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.stack import load_sam_template, transform_template

PARAMETERS = {"ProtectedTables": ",".join(sc.PROTECTED)}
# Conditional features evaluated both ways where they change a resource's properties.
PARAMETER_SETS = {
    "defaults": PARAMETERS,
    "object-lock": {**PARAMETERS, "ArchiveObjectLockMode": "COMPLIANCE"},
}
MIN_REASON_LENGTH = 25


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform_template(parameters=PARAMETERS).cloudformation


def _checkov_binary() -> Path | None:
    configured = os.environ.get("CHECKOV")
    if configured:
        path = Path(configured)
        assert path.exists(), f"CHECKOV={configured} does not exist (run `make tools`)"
        return path
    default = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
    return default if default.exists() else None


@pytest.fixture(scope="module")
def checkov_results(cfn: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    binary = _checkov_binary()
    if binary is None:
        pytest.skip("checkov is not installed: run `make tools` (make test always runs this gate)")
    template = tmp_path_factory.mktemp("checkov") / "template.json"
    template.write_text(json.dumps(cfn, indent=1))
    completed = subprocess.run(
        [str(binary), "--skip-download", "--framework", "cloudformation", "-o", "json", "-f", str(template)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"},
    )
    assert completed.stdout.strip(), f"checkov produced no output: {completed.stderr[-2000:]}"
    output = json.loads(completed.stdout)
    reports = output if isinstance(output, list) else [output]
    merged: dict[str, Any] = {
        "passed_checks": [],
        "failed_checks": [],
        "skipped_checks": [],
        "parsing_errors": [],
    }
    for report in reports:
        if "results" not in report:  # `--quiet` with no failures prints only a summary
            continue
        for key in merged:
            merged[key].extend(report["results"].get(key, []))
    summary = reports[0].get("summary", {})
    merged["summary"] = summary
    if not any(merged[k] for k in ("passed_checks", "failed_checks", "skipped_checks")):
        # --quiet drops passed checks; the counts are still in the summary
        merged["counts"] = (summary.get("passed", 0), summary.get("failed", 0), summary.get("skipped", 0))
    return merged


def test_checkov_reports_no_failed_checks(
    request: pytest.FixtureRequest, checkov_results: dict[str, Any]
) -> None:
    summary = checkov_results["summary"]
    passed, failed, skipped = summary.get("passed", 0), summary.get("failed", 0), summary.get("skipped", 0)
    skipped_ids = sorted(
        {f"{c['check_id']}@{c['resource'].split('.')[-1]}" for c in checkov_results["skipped_checks"]}
    )
    report_gate(
        request,
        "checkov (transformed template)",
        f"{passed} passed, {failed} failed, {skipped} skipped"
        + (f" [{', '.join(skipped_ids)}]" if skipped_ids else ""),
    )
    assert summary.get("parsing_errors", 0) == 0, "checkov could not parse the transformed template"
    failures = [
        f"{c['check_id']} {c['resource']}: {c['check_name']} ({c.get('guideline') or 'no guideline'})"
        for c in checkov_results["failed_checks"]
    ]
    assert not failures, (
        "checkov failed checks (fix the resource, or add `Metadata: checkov: skip: [{id, comment}]` with a "
        "written reason on it in template.yaml):\n  " + "\n  ".join(failures)
    )


def test_every_checkov_suppression_has_a_written_reason(checkov_results: dict[str, Any]) -> None:
    weak = [
        f"{c['check_id']} {c['resource']}: {c.get('check_result', {}).get('suppress_comment')!r}"
        for c in checkov_results["skipped_checks"]
        if len(str(c.get("check_result", {}).get("suppress_comment") or "").strip()) < MIN_REASON_LENGTH
        or "No comment provided" in str(c.get("check_result", {}).get("suppress_comment"))
    ]
    assert not weak, "checkov suppressions need a written reason:\n  " + "\n  ".join(weak)


def test_suppressions_in_template_yaml_carry_reasons() -> None:
    """Also the ones checkov did not need this time (on conditional resources, say)."""
    sam = load_sam_template()
    weak: list[str] = []
    for logical_id, resource in sam.get("Resources", {}).items():
        for skip in (resource.get("Metadata", {}) or {}).get("checkov", {}).get("skip", []):
            if not isinstance(skip, dict) or len(str(skip.get("comment", "")).strip()) < MIN_REASON_LENGTH:
                weak.append(f"{logical_id}: {skip!r}")
    assert not weak, "every checkov skip needs {id, comment: <written reason>}:\n  " + "\n  ".join(weak)


def test_function_metadata_survives_the_transform(cfn: dict[str, Any]) -> None:
    """checkov reads suppressions from resource Metadata: samtranslator must keep it on functions."""
    sam = load_sam_template()
    for logical_id, resource in sam.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function" and resource.get("Metadata", {}).get(
            "checkov"
        ):
            assert (
                cfn["Resources"][logical_id].get("Metadata", {}).get("checkov")
                == resource["Metadata"]["checkov"]
            )


# --------------------------------------------------------------------------- IAM
@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_no_mutating_action_on_star(
    request: pytest.FixtureRequest, cfn: dict[str, Any], parameter_set: str
) -> None:
    ev = sc.intrinsics(cfn, PARAMETER_SETS[parameter_set])
    statements = sc.identity_statements(cfn, ev)
    assert statements, "no IAM statements found: the walker is broken"
    violations = [
        f"{s.source}: {bad} on * ({s.raw.get('Sid', 'no Sid')})"
        for s in statements
        for bad in [sc.star_violations(s)]
        if bad
    ]
    broad = [
        f"{s.source}: Allow with NotAction/NotResource"
        for s in statements
        if s.effect == "Allow" and (s.not_action or s.not_resource)
    ]
    if parameter_set == "defaults":
        report_gate(
            request,
            "template IAM",
            f"{len(statements)} statements in {len({s.role for s in statements})} roles checked, "
            f"{len(violations) + len(broad)} violations",
        )
    assert not broad, "\n".join(broad)
    assert not violations, (
        "mutating (or customer-data reading) actions on Resource '*'; scope them to ARNs, or, if AWS "
        "only grants it on '*', add it to STAR_ONLY_ALLOWED with a reason:\n  " + "\n  ".join(violations)
    )


def test_no_mutating_table_wide_wildcard(cfn: dict[str, Any]) -> None:
    """Mutating DynamoDB actions on every table of the account are granted only where a condition
    limits them to tables tagged for this stack (ABAC), to the restore namespace (`*-dr-*`, the
    tables the restore creates), or to adding/removing exactly this stack's protect tag."""
    ev = sc.intrinsics(cfn, PARAMETERS)
    violations = []
    for s in sc.identity_statements(cfn, ev):
        if s.effect != "Allow":
            continue
        mutating = [a for a in s.actions if a.lower().startswith("dynamodb:") and not sc.is_read_only(a)]
        for resource in s.resources:
            kind_name = sc.table_arn_match(resource)
            if not (mutating and kind_name and kind_name[1].startswith("*")):
                continue
            if sc.tag_scoped(s) or sc.tagging_pinned(s) or sc.is_restore_target(resource, sc.PROTECTED):
                continue
            if sc.in_restore_namespace(resource):
                continue  # indexes of the tables the restore creates
            if (s.role, kind_name[0], tuple(mutating)) in sc.STREAM_READS_ON_EVERY_TABLE:
                continue
            if kind_name[0] == "backup" and set(mutating) <= {"dynamodb:DeleteBackup"}:
                continue  # backups carry no tags; the ledger limits deletes to the tool's own backups
            violations.append(f"{s.source}: {mutating} on {resource}")
    assert not violations, "\n".join(violations)


def test_only_restore_roles_create_tables_and_only_with_the_restore_pattern(
    request: pytest.FixtureRequest, cfn: dict[str, Any]
) -> None:
    ev = sc.intrinsics(cfn, PARAMETERS)
    violations: list[str] = []
    creators: set[str] = set()
    for s in sc.identity_statements(cfn, ev):
        granted = sc.grants_any(s, sc.TABLE_CREATING)
        if not granted:
            continue
        creators.add(s.role)
        if not sc.RESTORE_ROLE_PATTERN.search(s.role):
            violations.append(f"{s.source}: {granted} granted to a role that is not a restore role")
        if s.not_resource:
            violations.append(f"{s.source}: NotResource with {granted}")
        for action in granted:
            bad = [r for r in s.resources if not sc.allowed_table_resources(action, r, sc.PROTECTED, s)]
            if bad:
                violations.append(f"{s.source}: {action} on {bad} (only <name>-dr-* targets)")
    report_gate(request, "table creation", f"roles allowed to create tables: {sorted(creators) or 'none'}")
    assert not violations, "\n".join(violations)


def test_tables_are_deleted_only_in_the_restore_namespace(cfn: dict[str, Any]) -> None:
    ev = sc.intrinsics(cfn, PARAMETERS)
    violations = []
    for s in sc.identity_statements(cfn, ev):
        if sc.grants_any(s, sc.TABLE_DELETING):
            bad = [r for r in s.resources if not sc.is_restore_target(r, sc.PROTECTED)]
            if bad or s.not_resource:
                violations.append(f"{s.source}: DeleteTable on {bad or 'NotResource'}")
    assert not violations, "a tool role may delete only tables it restores (<name>-dr-*):\n" + "\n".join(
        violations
    )


def test_at_most_one_role_writes_the_live_table_pointers(
    request: pytest.FixtureRequest, cfn: dict[str, Any]
) -> None:
    ev = sc.intrinsics(cfn, PARAMETERS)
    writers: dict[str, list[str]] = {}
    pointers = sc.live_pointer_arns(sc.PROTECTED)
    for s in sc.identity_statements(cfn, ev):
        granted = sc.grants_any(s, sc.POINTER_WRITING)
        if s.role == "LifecycleFunctionRole" and set(granted) <= {"ssm:DeleteParameters"}:
            continue  # `sam delete` removes the pointers so a later stack of the same name starts clean
        if not granted:
            continue
        if s.not_resource or any(sc.resource_covers(r, p) for r in s.resources for p in pointers):
            writers.setdefault(s.role or s.source, []).append(f"{s.source}: {granted} on {list(s.resources)}")
    report_gate(request, "live-table pointers", f"writers: {sorted(writers) or 'none'}")
    assert len(writers) <= 1, "only the restore cutover may write the live-table parameters:\n" + "\n".join(
        line for lines in writers.values() for line in lines
    )
    for role in writers:
        assert sc.RESTORE_ROLE_PATTERN.search(role), f"live-table pointers written by non-restore role {role}"


def test_managed_policies_are_known(cfn: dict[str, Any]) -> None:
    """AWS managed policies are not visible to the statement checks: allow-list them by name."""
    allowed = {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "function logs",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "Tracing: Active (X-Ray telemetry only)",
    }
    ev = sc.intrinsics(cfn, PARAMETERS)
    unknown = []
    for logical_id, role in sc.roles(cfn, ev).items():
        for arn in ev.resolve(role.get("Properties", {}).get("ManagedPolicyArns", [])):
            if arn not in allowed:
                unknown.append(f"{logical_id}: {arn}")
    assert not unknown, "unreviewed managed policies (they grant on '*'):\n" + "\n".join(unknown)


# --------------------------------------------------------------------------- data at rest
def _by_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == kind}


def _refers_to(value: Any, logical_id: str) -> bool:
    return logical_id in json.dumps(value)


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_buckets_are_encrypted_versioned_private_and_tls_only(
    request: pytest.FixtureRequest, cfn: dict[str, Any], parameter_set: str
) -> None:
    ev = sc.intrinsics(cfn, PARAMETER_SETS[parameter_set])
    buckets = _by_type(cfn, "AWS::S3::Bucket")
    policies = _by_type(cfn, "AWS::S3::BucketPolicy")
    problems: list[str] = []
    for logical_id, bucket in buckets.items():
        raw = bucket.get("Properties", {})
        props = ev.resolve(raw)
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        raw_rules = raw.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if not rules or any(
            r["ServerSideEncryptionByDefault"].get("SSEAlgorithm") != "aws:kms" for r in rules
        ):
            problems.append(f"{logical_id}: not SSE-KMS")
        elif not all(
            sc.refers_to_kms_key(r["ServerSideEncryptionByDefault"].get("KMSMasterKeyID"), cfn)
            for r in raw_rules
        ):
            problems.append(f"{logical_id}: not encrypted with the stack's customer-managed key")
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            problems.append(f"{logical_id}: versioning not Enabled")
        block = props.get("PublicAccessBlockConfiguration", {})
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if str(block.get(key)).lower() != "true":
                problems.append(f"{logical_id}: PublicAccessBlock {key} not true")
        tls = False
        for policy in policies.values():
            if not _refers_to(policy["Properties"].get("Bucket"), logical_id):
                continue
            document = ev.resolve(policy["Properties"]["PolicyDocument"])
            for st in document.get("Statement", []):
                resources = st.get("Resource", [])
                resources = resources if isinstance(resources, list) else [resources]
                if (
                    st.get("Effect") == "Deny"
                    and st.get("Principal") in ("*", {"AWS": "*"})
                    and st.get("Action") in ("s3:*", ["s3:*"])
                    and str(st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower()
                    == "false"
                    and any(r.endswith("/*") for r in resources)
                    and any(not r.endswith("/*") for r in resources)
                ):
                    tls = True
        if not tls:
            problems.append(
                f"{logical_id}: no bucket policy denying non-TLS access to the bucket and its objects"
            )
        if parameter_set == "object-lock" and "ObjectLockConfiguration" in raw:
            lock = props.get("ObjectLockConfiguration", {})
            if lock.get("Rule", {}).get("DefaultRetention", {}).get("Mode") != "COMPLIANCE":
                problems.append(f"{logical_id}: ArchiveObjectLockMode not applied as default retention")
    if parameter_set == "defaults":
        report_gate(request, "buckets", f"{len(buckets)} checked (SSE-KMS CMK, versioned, private, TLS-only)")
    assert not problems, "\n".join(problems)


def test_queues_and_topics_are_kms_encrypted(request: pytest.FixtureRequest, cfn: dict[str, Any]) -> None:
    problems = []
    checked = 0
    for kind in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
        for logical_id, resource in _by_type(cfn, kind).items():
            checked += 1
            key = resource.get("Properties", {}).get("KmsMasterKeyId")
            if not sc.refers_to_kms_key(key, cfn):
                problems.append(
                    f"{logical_id} ({kind}): KmsMasterKeyId is {key!r}, not a customer-managed key"
                )
    report_gate(request, "queues/topics", f"{checked} checked (KMS customer-managed key)")
    assert not problems, "\n".join(problems)


def test_every_function_has_an_encrypted_log_group_with_retention(
    request: pytest.FixtureRequest, cfn: dict[str, Any]
) -> None:
    groups = _by_type(cfn, "AWS::Logs::LogGroup")
    functions = _by_type(cfn, "AWS::Lambda::Function")
    problems = []
    for logical_id, function in functions.items():
        configured = function.get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
        group_id = configured.get("Ref") if isinstance(configured, dict) else None
        if group_id is None:
            named = [
                g
                for g, spec in groups.items()
                if _refers_to(spec.get("Properties", {}).get("LogGroupName"), logical_id)
            ]
            group_id = named[0] if named else None
        if group_id is None or group_id not in groups:
            problems.append(f"{logical_id}: no log group of its own in the template (LoggingConfig.LogGroup)")
    for group_id, group in groups.items():
        props = group.get("Properties", {})
        if "RetentionInDays" not in props:
            problems.append(f"{group_id}: no RetentionInDays")
        if not sc.refers_to_kms_key(props.get("KmsKeyId"), cfn):
            problems.append(f"{group_id}: not encrypted with a customer-managed key (KmsKeyId)")
    report_gate(request, "log groups", f"{len(functions)} functions, {len(groups)} log groups checked")
    assert not problems, "\n".join(problems)


def test_state_tables_are_encrypted_with_the_customer_key(cfn: dict[str, Any]) -> None:
    problems = []
    for logical_id, table in _by_type(cfn, "AWS::DynamoDB::Table").items():
        sse = table.get("Properties", {}).get("SSESpecification", {})
        if not (
            sse.get("SSEEnabled")
            and sse.get("SSEType") == "KMS"
            and sc.refers_to_kms_key(sse.get("KMSMasterKeyId"), cfn)
        ):
            problems.append(f"{logical_id}: SSE with the customer-managed key is not configured")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the checks bite
def _role(logical_id: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {
        logical_id: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}]
            },
        }
    }


def _statements(*roles: dict[str, Any]) -> list[sc.Statement]:
    cfn = {"Parameters": {"ProtectedTables": {"Type": "CommaDelimitedList"}}, "Resources": {}}
    for role in roles:
        cfn["Resources"].update(role)
    return sc.identity_statements(cfn, sc.intrinsics(cfn, PARAMETERS))


def test_the_checks_catch_what_they_are_for() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    bad_star = _statements(
        _role("R", {"Effect": "Allow", "Action": ["dynamodb:DeleteBackup"], "Resource": "*"})
    )
    assert sc.star_violations(bad_star[0]) == ["dynamodb:DeleteBackup"]
    data_on_star = _statements(_role("R", {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": "*"}))
    assert sc.star_violations(data_on_star[0]) == ["dynamodb:Scan"]
    wildcard = _statements(_role("R", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}))
    assert sc.star_violations(wildcard[0]) == ["dynamodb:*"]
    unpinned = _statements(
        _role("R", {"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*"})
    )
    assert sc.star_violations(unpinned[0]) == ["lambda:CreateEventSourceMapping"]
    fine = _statements(
        _role(
            "R",
            {"Effect": "Allow", "Action": ["dynamodb:ListBackups", "xray:PutTraceSegments"], "Resource": "*"},
        )
    )
    assert sc.star_violations(fine[0]) == []

    creator = _statements(
        _role(
            "BackupRole", {"Effect": "Allow", "Action": "dynamodb:Restore*", "Resource": f"{table}customers"}
        )
    )
    assert sc.grants_any(creator[0], sc.TABLE_CREATING)
    assert not sc.RESTORE_ROLE_PATTERN.search(creator[0].role)
    assert not sc.allowed_table_resources("dynamodb:CreateTable", f"{table}customers", sc.PROTECTED)
    assert not sc.allowed_table_resources("dynamodb:CreateTable", f"{table}*", sc.PROTECTED)
    assert not sc.allowed_table_resources("dynamodb:CreateTable", f"{table}*-dr", sc.PROTECTED)
    assert sc.allowed_table_resources("dynamodb:CreateTable", f"{table}*-dr-*", sc.PROTECTED)
    untagged = _statements(
        _role(
            "RestoreRole",
            {"Effect": "Allow", "Action": "dynamodb:RestoreTableToPointInTime", "Resource": f"{table}*"},
        )
    )[0]
    assert not sc.allowed_table_resources(
        "dynamodb:RestoreTableToPointInTime", f"{table}*", sc.PROTECTED, untagged
    )
    tagged = _statements(
        _role(
            "RestoreRole",
            {
                "Effect": "Allow",
                "Action": "dynamodb:RestoreTableToPointInTime",
                "Resource": f"{table}*",
                "Condition": {"StringEquals": {sc.PROTECT_TAG_CONDITION: sc.STACK_NAME}},
            },
        )
    )[0]
    assert sc.allowed_table_resources("dynamodb:RestoreTableToPointInTime", f"{table}*", sc.PROTECTED, tagged)
    assert sc.allowed_table_resources("dynamodb:CreateTable", f"{table}customers-dr-*", sc.PROTECTED)
    assert sc.allowed_table_resources(
        "dynamodb:RestoreTableToPointInTime",
        "arn:*:dynamodb:*:${aws:PrincipalAccount}:table/orders",
        sc.PROTECTED,
    )
    assert not sc.is_restore_target(f"{table}customers", sc.PROTECTED)

    writer = _statements(
        _role(
            "X",
            {"Effect": "Allow", "Action": "ssm:Put*", "Resource": "arn:aws:ssm:*:*:parameter/dynamodb-dr/*"},
        )
    )
    assert sc.grants_any(writer[0], sc.POINTER_WRITING)
    assert any(
        sc.resource_covers(r, p) for r in writer[0].resources for p in sc.live_pointer_arns(sc.PROTECTED)
    )


ARCHIVE_DESTRUCTIVE = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
)


def test_no_tool_role_can_delete_archive_objects_or_weaken_the_bucket(
    request: pytest.FixtureRequest, cfn: dict[str, Any]
) -> None:
    """The archive is append-only for the tool: deletion is left to lifecycle rules (and Object
    Lock, when on), so a compromised function cannot destroy the history it protects."""
    ev = sc.intrinsics(cfn, PARAMETERS)
    violations = [
        f"{s.source}: {granted} on {list(s.resources)}"
        for s in sc.identity_statements(cfn, ev)
        for granted in [sc.grants_any(s, ARCHIVE_DESTRUCTIVE)]
        if granted
    ]
    report_gate(request, "archive", f"{len(violations)} roles able to delete or weaken the archive")
    assert not violations, "\n".join(violations)
