"""The IAM gate itself: mapping calls onto IAM from IAM's definitions, failing on a policy without
Version and on a missing permission, the linter, and the quotas at 1, 50 and 500 tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke
from gates import report_gate

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.drill.workload import create_customers_table
from dynamodb_dr_local.emulator import Emulator, transform_template
from iam import calls, definitions
from iam.evaluate import OPERATORS, split_operator
from iam.gate import Gate
from iam.template_policies import deployed_policies, function_environments

TICK = {"task": "backup", "scheduled_time": "2026-11-01T03:00:00Z"}


# ------------------------------------------------------------------------ calls -> IAM (definitions)
def _checks(prefix: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    role = "arn:aws:iam::123456789012:role/r"
    found = calls.checks_for(role, "f", prefix, operation, params, "us-east-1")
    return [(c.action, c.resource, c.why) for c in found]


def test_operations_map_to_actions_from_the_definitions_not_a_hand_list():
    assert definitions.action_names("s3", "ListObjectsV2", {}) == ["ListBucket"]  # linked API page
    assert definitions.action_names("lambda", "Invoke", {}) == ["InvokeFunction"]
    assert definitions.action_names("s3", "GetObject", {"VersionId": "v"}) == ["GetObjectVersion"]
    with pytest.raises(definitions.UnknownOperation):
        definitions.action_names("dynamodb", "NoSuchOperation", {})


def test_point_in_time_restore_also_needs_item_writes_on_its_target():
    found = _checks(
        "dynamodb",
        "RestoreTableToPointInTime",
        {"SourceTableName": "orders", "TargetTableName": "orders-dr-1", "UseLatestRestorableTime": True},
    )
    target = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-dr-1"
    assert (
        "dynamodb:RestoreTableToPointInTime",
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
        "",
    ) in [(a, r, w) for a, r, w in found]
    dependents = {a for a, r, w in found if r == target and w}
    assert {
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
    } <= dependents


def test_an_export_needs_s3_writes_on_its_bucket():
    found = _checks(
        "dynamodb",
        "ExportTableToPointInTime",
        {
            "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
            "S3Bucket": "b",
            "S3Prefix": "exports",
        },
    )
    s3 = {(a, r) for a, r, _ in found if a.startswith("s3:")}
    assert ("s3:PutObject", "arn:aws:s3:::b/exports/AWSDynamoDB/export/data.json.gz") in s3
    assert {a for a, _ in s3} == {"s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"}


def test_query_on_an_index_is_checked_on_the_index_arn():
    found = _checks("dynamodb", "Query", {"TableName": "orders", "IndexName": "by-date"})
    assert found == [
        ("dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/by-date", "")
    ]


def test_batch_writes_are_checked_on_every_table():
    found = _checks("dynamodb", "BatchWriteItem", {"RequestItems": {"a-t": [], "b-t": []}})
    assert {r.rsplit("/", 1)[1] for _, r, _ in found} == {"a-t", "b-t"}


def test_every_condition_key_and_operator_of_the_template_is_understood():
    """A key the gate can't fill would make every condition on it fail (or pass) by accident."""
    cfn = transform_template(
        parameters={"ProtectedTables": "customers", "DrReplicaRegion": "eu-west-1"}
    ).cloudformation
    policies = deployed_policies(cfn, {"ProtectedTables": "customers", "DrReplicaRegion": "eu-west-1"}, "s")
    understood = set(calls.REQUEST_KEYS) | calls.GLOBAL_KEYS
    unknown = []
    for policy in policies:
        for statement in policy.document["Statement"]:
            for operator, keys in statement.get("Condition", {}).items():
                split_operator(operator)  # raises on an operator IAM doesn't have
                assert split_operator(operator)[1] in OPERATORS
                for key in keys:
                    lowered = key.lower()
                    if not (
                        lowered in understood or lowered.startswith(("aws:resourcetag/", "aws:requesttag/"))
                    ):
                        unknown.append(f"{policy.role}/{policy.name}: {key}")
    assert not unknown, unknown


# --------------------------------------------------------------- the gate fails on broken policies
def _variant(tmp_path: Path, edit: Any) -> Path:
    for folder in ("functions", "layers", "statemachines"):
        (tmp_path / folder).symlink_to(PROJECT_ROOT / folder)
    text = (PROJECT_ROOT / "template.yaml").read_text()
    edited = edit(text)
    assert edited != text, "the variant did not change the template"
    path = tmp_path / "template.yaml"
    path.write_text(edited)
    return path


def _backup_statement(text: str) -> tuple[int, int]:
    start = text.index("            - Sid: ProtectedTablesPitrAndBackup")
    return start, text.index("            - Sid: ProtectedTablesBackups", start)


def _without_version_and_with_a_policy_variable(text: str) -> str:
    start, end = _backup_statement(text)
    header = '        - Version: "2012-10-17"\n          Statement:\n'
    head = text[:start]
    at = head.rindex(header)
    head = head[:at] + "        - Statement:\n" + head[at + len(header) :]
    statement = text[start:end].replace("${AWS::AccountId}", "${!aws:PrincipalAccount}")
    return head + statement + text[end:]


def _without_create_backup(text: str) -> str:
    start, end = _backup_statement(text)
    return (
        text[:start] + text[start:end].replace("                - dynamodb:CreateBackup\n", "") + text[end:]
    )


def _run_backup(template: Path) -> list[str]:
    with Emulator() as emu:
        create_customers_table(emu.clients.client("dynamodb"), "customers")
        stack = emu.deploy(parameters={"ProtectedTables": "customers"}, template_path=template)
        invoke(emu, stack.physical("BackupFunction"), TICK)
    return []


@pytest.mark.iam_gate_off
@pytest.mark.integration
def test_the_gate_fails_a_policy_without_version_that_uses_a_policy_variable(tmp_path, iam_gate: Gate):
    _run_backup(_variant(tmp_path, _without_version_and_with_a_policy_variable))
    denied = [str(v) for v in iam_gate.violations]
    assert any(
        "BackupFunction" in d
        and "dynamodb.CreateBackup needs dynamodb:CreateBackup" in d
        and "implicit deny" in d
        for d in denied
    ), denied


@pytest.mark.iam_gate_off
@pytest.mark.integration
def test_the_same_policy_variable_passes_with_version(tmp_path, iam_gate: Gate):
    def with_version(text: str) -> str:
        start, end = _backup_statement(text)
        return (
            text[:start]
            + text[start:end].replace("${AWS::AccountId}", "${!aws:PrincipalAccount}")
            + text[end:]
        )

    _run_backup(_variant(tmp_path, with_version))
    assert not iam_gate.violations, [str(v) for v in iam_gate.violations]


@pytest.mark.iam_gate_off
@pytest.mark.integration
def test_the_gate_names_the_function_the_call_and_the_missing_permission(tmp_path, iam_gate: Gate):
    _run_backup(_variant(tmp_path, _without_create_backup))
    denied = [str(v) for v in iam_gate.violations]
    assert len(denied) == 1, denied
    assert "function dynamodb-dr-BackupFunction-" in denied[0]
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/customers"
    assert f"dynamodb.CreateBackup needs dynamodb:CreateBackup on {table} " in denied[0]


# ---------------------------------------------------------------------------------- the linter
PARAMETERS_ALL_ON = {
    "ProtectedTables": "customers,orders",
    "DrReplicaRegion": "eu-west-1",
    "ArchiveReplicaBucketArn": "arn:aws:s3:::dr-archive",
    "ArchiveReplicaRegion": "eu-west-1",
    "ArchiveReplicaKmsKeyId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "RestoreKinesisStreamArns": "arn:aws:kinesis:us-east-1:123456789012:stream/orders-changes",
    "ArchiveObjectLockMode": "GOVERNANCE",
}
# parliament findings accepted, each with the reason.
LINT_SUPPRESSED = {
    ("RESOURCE_MISMATCH", "states:DescribeExecution"): (
        "the definitions list `execution` and `express` as required alternatives; the restore machine "
        "is STANDARD, so its executions are `execution:` ARNs (parliament expects both)"
    ),
    ("RESOURCE_MISMATCH", "states:ListExecutions"): (
        "the definitions list `stateMachine` and `mapRun` as alternatives (the request names one "
        "or the other); rehearsals list the restore machine's executions, a `stateMachine:` ARN"
    ),
}


def test_parliament_finds_nothing_in_any_policy_of_the_template(request):
    from parliament import analyze_policy_string

    cfn = transform_template(parameters=PARAMETERS_ALL_ON).cloudformation
    policies = deployed_policies(cfn, PARAMETERS_ALL_ON, "dynamodb-dr")
    findings, suppressed = [], 0
    for policy in policies:
        for finding in analyze_policy_string(json.dumps(policy.document)).findings:
            actions = (
                [d.get("action") for d in finding.detail] if isinstance(finding.detail, list) else [None]
            )
            if all((finding.issue, a) in LINT_SUPPRESSED for a in actions):
                suppressed += 1
                continue
            findings.append(f"{policy.role}/{policy.name}: {finding.issue} {finding.detail}")
    report_gate(
        request, "parliament", f"{len(policies)} policies, {len(findings)} findings, {suppressed} suppressed"
    )
    assert not findings, "\n".join(findings)
    assert all(len(reason) > 40 for reason in LINT_SUPPRESSED.values())


# ---------------------------------------------------------------------------------- quotas
INLINE_PER_ROLE = 10_240  # IAM: all inline policies of one role together, whitespace not counted
MANAGED_POLICY = 6_144
MANAGED_PER_ROLE = 10
PARAMETER_VALUE = 4_096  # CloudFormation: one parameter value
LAMBDA_ENVIRONMENT = 4_096  # Lambda: all environment variables of a function together
LONGEST_STACK = "s" * 72  # the longest stack name the fixed names allow (state machine: 80)


def fleet(count: int) -> dict[str, str]:
    """Parameters for `count` protected tables with 40-character names: as many as ProtectedTables
    holds by name (its MaxLength), the rest selected by tag (which adds nothing to the template)."""
    names = [f"t{n:03d}-" + "x" * 35 for n in range(count)]
    assert all(len(n) == 40 for n in names)
    limit = int(
        transform_template(parameters={"ProtectedTables": "customers"}).cloudformation["Parameters"][
            "ProtectedTables"
        ]["MaxLength"]
    )
    listed: list[str] = []
    for name in names:
        if len(",".join([*listed, name])) > limit:
            break
        listed.append(name)
    return {**PARAMETERS_ALL_ON, "ProtectedTables": ",".join(listed)}


@pytest.mark.parametrize("tables", [1, 50, 500])
def test_iam_cloudformation_and_lambda_quotas_hold(tables, request):
    parameters = fleet(tables)
    cfn = transform_template(parameters=parameters).cloudformation
    policies = deployed_policies(cfn, parameters, LONGEST_STACK)
    inline: dict[str, int] = {}
    managed: dict[str, int] = {}
    for policy in policies:
        if policy.kind == "inline":
            inline[policy.role] = inline.get(policy.role, 0) + policy.size
        else:
            assert policy.size <= MANAGED_POLICY, f"{policy.name}: {policy.size} > {MANAGED_POLICY}"
            managed[policy.role] = managed.get(policy.role, 0) + 1
    for role, size in inline.items():
        assert size <= INLINE_PER_ROLE, f"{role}: inline policies {size} > {INLINE_PER_ROLE}"
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            count = managed.get(logical_id, 0) + len(resource["Properties"].get("ManagedPolicyArns", []))
            assert count <= MANAGED_PER_ROLE, f"{logical_id}: {count} managed policies"
    for name, value in parameters.items():
        assert len(value.encode()) <= PARAMETER_VALUE, name
    for function, variables in function_environments(cfn, parameters, LONGEST_STACK).items():
        size = sum(len(k) + len(v) for k, v in variables.items())
        assert size <= LAMBDA_ENVIRONMENT, f"{function}: environment {size} bytes"
    assert len(json.dumps(cfn).encode()) < 1_000_000  # template body in S3
    assert len(cfn["Resources"]) <= 500
    worst = max(inline.values())
    report_gate(
        request, f"quotas at {tables} tables", f"largest role inline policies {worst} / {INLINE_PER_ROLE}"
    )


def test_a_full_protected_tables_value_fits_every_function_environment():
    """MaxLength of ProtectedTables is what keeps the environments under Lambda's 4 KB."""
    cfn = transform_template(parameters={"ProtectedTables": "customers"}).cloudformation
    limit = int(cfn["Parameters"]["ProtectedTables"]["MaxLength"])
    parameters = {"ProtectedTables": ",".join(["x" * 200] * 20)[:limit].rstrip(",")}
    for function, variables in function_environments(cfn, parameters, LONGEST_STACK).items():
        size = sum(len(k) + len(v) for k, v in variables.items())
        assert size <= LAMBDA_ENVIRONMENT, f"{function}: environment {size} bytes"


def test_the_gate_runs_in_ci_with_its_definitions_installed():
    assert os.environ.get("AWS_DEFAULT_REGION")
    assert len(definitions.database()["dynamodb"]["privileges"]) > 50


def test_service_principals_can_do_what_the_template_asks_of_them():
    """Calls the emulator never makes (schedules don't fire there; async dead-letters): each
    schedule's role may invoke its target and dead-letter it, each function may send to its DLQ."""
    from iam.evaluate import NamedPolicy, Request, decide
    from iam.template_policies import intrinsics

    stack = "dynamodb-dr"
    cfn = transform_template(parameters=PARAMETERS_ALL_ON).cloudformation
    ev = intrinsics(cfn, PARAMETERS_ALL_ON, stack)
    by_role: dict[str, list[NamedPolicy]] = {}
    for policy in deployed_policies(cfn, PARAMETERS_ALL_ON, stack):
        by_role.setdefault(policy.role, []).append(NamedPolicy(policy.name, policy.document))
    context = {"aws:principalaccount": "123456789012", "kms:viaservice": "sqs.us-east-1.amazonaws.com"}
    problems = []
    for name, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        needs: list[tuple[str, str, str]] = []
        if resource["Type"] == "AWS::Scheduler::Schedule":
            role = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
            needs.append((role, "lambda:InvokeFunction", ev.resolve(props["Target"]["Arn"])))
            needs.append((role, "sqs:SendMessage", ev.resolve(props["Target"]["DeadLetterConfig"]["Arn"])))
        if resource["Type"] == "AWS::Lambda::Function" and "DeadLetterConfig" in props:
            role = props["Role"]["Fn::GetAtt"][0]
            needs.append((role, "sqs:SendMessage", ev.resolve(props["DeadLetterConfig"]["TargetArn"])))
        for role, action, arn in needs:
            decision = decide(by_role.get(role, []), Request(action, arn, context))
            if not decision.allowed:
                problems.append(f"{name}: {role} needs {action} on {arn}")
    assert not problems, problems
