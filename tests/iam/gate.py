"""Records every AWS call the deployed functions and the state machine make in the emulator and
checks each against the caller's IAM policies as deployed (the transformed template's roles,
with intrinsics resolved by the emulated CloudFormation).

Principals: a call made while the emulator runs a function's handler is that function's role; a
call made by the Step Functions engine (Lambda tasks, Distributed Map child executions) is the
state machine's role. Calls made by tests and the CLI (the operator) are not checked.

Each call becomes one or more checks (action, resource ARN, request context) from IAM's own
definitions (`definitions.py`), plus the permissions AWS documents as checked on the side: the
target table of a point-in-time restore, the bucket of an export, the archiver role's stream
reads when a mapping is created, KMS for encrypted buckets, queues, topics and environments.
"""

from __future__ import annotations

import ast
import contextvars
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from iam.evaluate import NamedPolicy, Request, decide

ACCOUNT = "123456789012"
PARTITION = "aws"
_FUNCTION: contextvars.ContextVar[Any] = contextvars.ContextVar("iam_gate_function", default=None)
_PAUSED = threading.local()


@dataclass(frozen=True)
class Check:
    principal: str  # role ARN
    caller: str  # "function dynamodb-dr-BackupFunction-X" / "state machine ..."
    call: str  # "dynamodb.DescribeTable"
    action: str
    resource: str
    context: dict[str, Any]
    why: str = ""  # for checks on the side: which documented rule asks for it


@dataclass
class Violation:
    check: Check
    reason: str

    def __str__(self) -> str:
        c = self.check
        side = f" [{c.why}]" if c.why else ""
        return f"{c.caller}: {c.call} needs {c.action} on {c.resource}{side} - {self.reason}"


@dataclass
class Gate:
    violations: list[Violation] = field(default_factory=list)
    checked: int = 0
    calls: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    _policies: dict[str, list[NamedPolicy]] = field(default_factory=dict)

    def reset(self) -> None:
        self.violations.clear()
        self.unknown.clear()
        self._policies.clear()

    # ------------------------------------------------------------------ principals and policies
    def policies(self, role_arn: str) -> list[NamedPolicy]:
        if role_arn not in self._policies:
            self._policies[role_arn] = _role_policies(role_arn)
        return self._policies[role_arn]

    def evaluate(self, check: Check) -> None:
        try:
            policies = self.policies(check.principal)
        except RoleGone:
            return  # a call from an emulator that has already stopped (a thread outliving its test)
        self.checked += 1
        decision = decide(policies, Request(check.action, check.resource, check.context))
        if not decision.allowed:
            self.violations.append(Violation(check, decision.reason))


GATE = Gate()


# ---------------------------------------------------------------------------------- moto lookups
def _backend(module: str, name: str, region: str) -> Any:
    mod = __import__(module, fromlist=[name])
    backends = getattr(mod, name)
    return backends[ACCOUNT][region]


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        document = dict(raw)
    else:
        try:
            document = dict(json.loads(raw))
        except ValueError:
            document = dict(ast.literal_eval(raw))  # moto keeps some documents as a Python repr
    statements = document.get("Statement")
    if isinstance(statements, list):
        # CloudFormation drops `!If [..., !Ref AWS::NoValue]` list entries; moto leaves a None.
        document["Statement"] = [s for s in statements if s]
    return document


class RoleGone(LookupError):
    """The caller's role is not in the emulated account (its emulator has stopped)."""


def _role_policies(role_arn: str) -> list[NamedPolicy]:
    from moto.iam.models import iam_backends

    iam = iam_backends[ACCOUNT][PARTITION]
    try:
        role = iam.get_role(role_arn.rsplit("/", 1)[-1])
    except Exception as exc:
        raise RoleGone(role_arn) from exc
    policies = [NamedPolicy(f"{role.name}/{name}", _document(doc)) for name, doc in role.policies.items()]
    for arn, managed in role.managed_policies.items():
        if arn.startswith("arn:aws:iam::aws:"):
            continue  # AWS managed (basic execution, X-Ray): logs and traces, never recorded here
        policies.append(NamedPolicy(f"{role.name}/{managed.name}", _managed_document(managed)))
    return policies


def _managed_document(policy: Any) -> dict[str, Any]:
    (version,) = [v for v in policy.versions if v.version_id == policy.default_version_id]
    return _document(version.document)


def function_role(function_name: str, region: str) -> str:
    from moto.awslambda.utils import get_backend

    return str(get_backend(ACCOUNT, region).get_function(function_name).role)


def state_machine_role(region: str) -> tuple[str, str]:
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # The engine's backend when it executes machines, else the plain one (the emulator's server
    # mode sets the config per request); the stack has one machine.
    machines = list(stepfunctions_parser_backends[ACCOUNT][region].state_machines) or list(
        stepfunctions_backends[ACCOUNT][region].state_machines
    )
    if len(machines) != 1:
        raise LookupError(f"expected the stack's one state machine in {region}, found {len(machines)}")
    return str(machines[0].roleArn), str(machines[0].arn)


def table_tags(arn: str, region: str) -> dict[str, str]:
    """A DynamoDB table's tags (an index or stream ARN: its table's, as IAM does for indexes)."""
    name = arn.partition(":table/")[2].split("/", 1)[0]
    backend = _backend("moto.dynamodb.models", "dynamodb_backends", region)
    table = backend.tables.get(name)
    return {t["Key"]: t["Value"] for t in (table.tags or [])} if table else {}


def resource_tags(arn: str, region: str) -> dict[str, str]:
    if ":dynamodb:" in arn and ":table/" in arn:
        return table_tags(arn, region)
    try:
        backend = _backend(
            "moto.resourcegroupstaggingapi.models", "resourcegroupstaggingapi_backends", region
        )
        _, found = backend.get_resources(resource_arn_list=[arn])
        return dict(found[0].tags) if found else {}
    except Exception:
        return {}


def mapping_function_arn(uuid: str, region: str) -> str | None:
    from moto.awslambda.utils import get_backend

    for esm in get_backend(ACCOUNT, region)._event_source_mappings.values():
        if esm.uuid == uuid:
            return str(esm.function_arn)
    return None


def function_arn(name_or_arn: str, region: str) -> str:
    if name_or_arn.startswith("arn:"):
        return ":".join(name_or_arn.split(":")[:7])  # without a version or alias qualifier
    return f"arn:{PARTITION}:lambda:{region}:{ACCOUNT}:function:{name_or_arn}"


def bucket_key(bucket: str) -> str | None:
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[ACCOUNT][PARTITION].get_bucket(bucket)
    except Exception:
        return None
    rules = (found.encryption or {}).get("Rule", {})
    default = rules.get("ApplyServerSideEncryptionByDefault", {}) if isinstance(rules, dict) else {}
    key = default.get("KMSMasterKeyID")
    return str(key) if key and default.get("SSEAlgorithm") == "aws:kms" else None


def queue_key(queue_url_or_arn: str, region: str) -> str | None:
    backend = _backend("moto.sqs.models", "sqs_backends", region)
    name = queue_url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    queue = backend.queues.get(name)
    key = getattr(queue, "kms_master_key_id", None) if queue else None
    return _key_arn(str(key), region) if key else None


def topic_key(topic_arn: str, region: str) -> str | None:
    backend = _backend("moto.sns.models", "sns_backends", region)
    topic = backend.topics.get(topic_arn)
    key = getattr(topic, "kms_master_key_id", None) if topic else None
    return _key_arn(str(key), region) if key else None


def _key_arn(key: str, region: str) -> str:
    if key.startswith("arn:"):
        return key
    backend = _backend("moto.kms.models", "kms_backends", region)
    try:
        return str(backend.describe_key(key).arn)
    except Exception:
        return f"arn:{PARTITION}:kms:{region}:{ACCOUNT}:key/{key}"


def function_environment_key(function_name: str, region: str) -> str | None:
    """The KmsKeyArn of a deployed function, from the emulated stack that created it."""
    from moto.cloudformation.models import cloudformation_backends

    for stack in cloudformation_backends[ACCOUNT][region].stacks.values():
        resources = stack.template_dict.get("Resources", {})
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            created = stack.resource_map._parsed_resources.get(logical_id)
            if getattr(created, "function_name", None) != function_name:
                continue
            key = resource.get("Properties", {}).get("KmsKeyArn")
            if isinstance(key, dict) and "Fn::GetAtt" in key:
                target = stack.resource_map._parsed_resources.get(key["Fn::GetAtt"][0])
                return str(target.arn) if target is not None else None
            return str(key) if isinstance(key, str) else None
    return None
