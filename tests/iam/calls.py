"""Turns one recorded API call into the IAM checks AWS makes for it, and installs the recorders."""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from iam import definitions
from iam import gate as g

GLOBAL_KEYS = {
    "aws:principalaccount",
    "aws:principalarn",
    "aws:requestedregion",
    "aws:securetransport",
    "aws:principaltype",
    "aws:sourceaccount",
    "kms:viaservice",
    "kms:calleraccount",
}


def _tags(params: dict[str, Any]) -> dict[str, str]:
    tags = params.get("Tags")
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {str(t.get("Key")): str(t.get("Value")) for t in tags if isinstance(t, dict)}
    return {}


def _tag_keys(params: dict[str, Any]) -> list[str] | None:
    if isinstance(params.get("TagKeys"), list):
        return [str(k) for k in params["TagKeys"]]
    tags = _tags(params)
    return list(tags) if tags else None


def _lambda_function_arn(params: dict[str, Any], region: str) -> str | None:
    if isinstance(params.get("FunctionName"), str):
        return g.function_arn(params["FunctionName"], region)
    if isinstance(params.get("UUID"), str):
        return g.mapping_function_arn(params["UUID"], region)
    return None


# Condition keys IAM fills from the request, for the keys the definitions list for an action.
REQUEST_KEYS = {
    "lambda:functionarn": _lambda_function_arn,
    "s3:prefix": lambda p, r: p.get("Prefix"),
    "application-autoscaling:service-namespace": lambda p, r: p.get("ServiceNamespace"),
    "application-autoscaling:scalable-dimension": lambda p, r: p.get("ScalableDimension"),
    "iam:awsservicename": lambda p, r: p.get("AWSServiceName"),
    "ssm:recursive": lambda p, r: None if p.get("Recursive") is None else str(bool(p["Recursive"])).lower(),
    "aws:tagkeys": lambda p, r: _tag_keys(p),
    "cloudwatch:namespace": lambda p, r: p.get("Namespace"),
}


def base_context(role_arn: str, region: str) -> dict[str, Any]:
    return {
        "aws:principalaccount": g.ACCOUNT,
        "aws:principalarn": role_arn,
        "aws:principaltype": "AssumedRole",
        "aws:requestedregion": region,
        "aws:securetransport": "true",
    }


def checks_for(
    principal: str, caller: str, prefix: str, operation: str, params: dict[str, Any], region: str
) -> list[g.Check]:
    call = f"{prefix}.{operation}"
    checks: list[g.Check] = []
    for name in definitions.action_names(prefix, operation, params):
        checks.extend(_action_checks(principal, caller, call, prefix, name, params, region))
    checks.extend(_side_checks(principal, caller, call, prefix, operation, params, region))
    return checks


def _action_checks(
    principal: str,
    caller: str,
    call: str,
    prefix: str,
    name: str,
    params: dict[str, Any],
    region: str,
    why: str = "",
) -> list[g.Check]:
    if isinstance(params.get("RequestItems"), dict):  # batch calls: one check per table
        return [
            check
            for table in params["RequestItems"]
            for check in _action_checks(
                principal, caller, call, prefix, name, {"TableName": table}, region, why
            )
        ]
    if isinstance(params.get("Names"), list):  # GetParameters/DeleteParameters: each name is checked
        return [
            check
            for each in params["Names"]
            for check in _action_checks(principal, caller, call, prefix, name, {"Name": each}, region, why)
        ]
    if isinstance(params.get("AlarmNames"), list):  # DeleteAlarms/DescribeAlarms by name: each alarm
        return [
            check
            for each in params["AlarmNames"]
            for check in _action_checks(
                principal, caller, call, prefix, name, {"AlarmName": each}, region, why
            )
        ]
    info = definitions.describe_action(
        prefix, name, params, partition=g.PARTITION, region=region, account=g.ACCOUNT
    )
    checks = []
    for resource in info.resources:
        context = base_context(principal, region)
        lowered = {k.lower() for k in info.request_condition_keys + resource.condition_keys}
        if "aws:resourcetag/${tagkey}" in lowered and resource.arn != "*":
            for key, value in g.resource_tags(resource.arn, region).items():
                context[f"aws:resourcetag/{key.lower()}"] = value
        if "aws:requesttag/${tagkey}" in lowered:
            for key, value in _tags(params).items():
                context[f"aws:requesttag/{key.lower()}"] = value
        for key, extract in REQUEST_KEYS.items():
            if key in lowered:
                value = extract(params, region)
                if value is not None:
                    context[key] = value
        checks.append(g.Check(principal, caller, call, info.full_name, resource.arn, context, why))
    for dependent in info.dependent_actions:
        dep_prefix, dep_name = dependent.split(":", 1)
        if dep_name == "TagResource" and not _tags(params):
            continue  # only checked when the request carries tags
        # DynamoDB checks a restore's item rights on the table it creates (TargetTableName).
        target = {"TableName": params["TargetTableName"]} if "TargetTableName" in params else params
        reason = f"{info.full_name} also needs it on its target (IAM definitions: dependent action)"
        checks.extend(_action_checks(principal, caller, call, dep_prefix, dep_name, target, region, reason))
    return checks


def _kms(
    principal: str,
    caller: str,
    call: str,
    key_arn: str | None,
    actions: tuple[str, ...],
    via: str,
    region: str,
    why: str,
) -> list[g.Check]:
    if not key_arn:
        return []
    context = {
        **base_context(principal, region),
        "kms:viaservice": f"{via}.{region}.amazonaws.com",
        "kms:calleraccount": g.ACCOUNT,
    }
    return [g.Check(principal, caller, call, f"kms:{a}", key_arn, context, why) for a in actions]


def _side_checks(
    principal: str, caller: str, call: str, prefix: str, operation: str, params: dict[str, Any], region: str
) -> list[g.Check]:
    """Permissions AWS documents as checked besides the call's own action."""
    out: list[g.Check] = []

    def kms(key_arn: str | None, actions: tuple[str, ...], via: str, why: str) -> list[g.Check]:
        return _kms(principal, caller, call, key_arn, actions, via, region, why)

    if prefix == "s3" and operation in {"PutObject", "CreateMultipartUpload", "UploadPart"}:
        why = "SSE-KMS bucket: S3 generates the object's data key with the caller's rights"
        out += kms(g.bucket_key(params.get("Bucket", "")), ("GenerateDataKey",), "s3", why)
    if prefix == "s3" and operation in {"GetObject"}:
        why = "SSE-KMS object: S3 decrypts its data key with the caller's rights"
        out += kms(g.bucket_key(params.get("Bucket", "")), ("Decrypt",), "s3", why)
    if prefix == "sqs" and operation in {"SendMessage", "SendMessageBatch"}:
        why = "SSE-KMS queue: the sender needs the queue key"
        out += kms(
            g.queue_key(params.get("QueueUrl", ""), region), ("GenerateDataKey", "Decrypt"), "sqs", why
        )
    if prefix == "sns" and operation == "Publish":
        why = "SSE-KMS topic: the publisher needs the topic key"
        out += kms(
            g.topic_key(params.get("TopicArn", ""), region), ("GenerateDataKey", "Decrypt"), "sns", why
        )
    if prefix == "dynamodb" and operation == "ExportTableToPointInTime":
        bucket, key_prefix = params.get("S3Bucket", ""), str(params.get("S3Prefix", "")).strip("/")
        folder = f"{key_prefix}/" if key_prefix else ""
        obj = f"arn:{g.PARTITION}:s3:::{bucket}/{folder}AWSDynamoDB/export/data.json.gz"
        why = "DynamoDB export writes the files with the caller's S3 rights"
        for action in ("s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"):
            out.append(g.Check(principal, caller, call, action, obj, base_context(principal, region), why))
        key = params.get("S3SseKmsKeyId") or g.bucket_key(bucket)
        out += kms(key, ("GenerateDataKey",), "s3", "export to an SSE-KMS bucket")
    if prefix == "lambda" and operation == "CreateEventSourceMapping":
        out += _mapping_checks(caller, call, params, region)
    return out


def _mapping_checks(caller: str, call: str, params: dict[str, Any], region: str) -> list[g.Check]:
    """Lambda checks the *function's* role can read the stream (and reach the failure destination)
    when the mapping is created."""
    function = str(params.get("FunctionName", ""))
    role = g.function_role(function.rsplit(":", 1)[-1] if function.startswith("arn:") else function, region)
    who = f"{caller} -> Lambda (mapping for {function.rsplit(':', 1)[-1]})"
    why = "Lambda checks the function role's stream reads when the mapping is created"
    out: list[g.Check] = []
    source = str(params.get("EventSourceArn", ""))
    if ":dynamodb:" in source:
        for action in ("DescribeStream", "GetRecords", "GetShardIterator"):
            out += _action_checks(role, who, call, "dynamodb", action, {"StreamArn": source}, region, why)
        out += _action_checks(role, who, call, "dynamodb", "ListStreams", {}, region, why)
    destination = (params.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    if isinstance(destination, str) and ":sqs:" in destination:
        name = destination.rsplit(":", 1)[-1]
        url = f"https://sqs.{region}.amazonaws.com/{g.ACCOUNT}/{name}"
        why = "the mapping sends failed batches to its on-failure queue with the function's role"
        out += _action_checks(
            role, who, call, "sqs", "SendMessage", {"QueueUrl": url, "_arn": destination}, region, why
        )
        out += _kms(
            role,
            who,
            call,
            g.queue_key(destination, region),
            ("GenerateDataKey", "Decrypt"),
            "sqs",
            region,
            why,
        )
    return out


# ---------------------------------------------------------------------------------------- hooks
def _principal_of(client: Any, region: str) -> tuple[str, str] | None:
    current = g._FUNCTION.get()
    if current is not None:
        name, role = current
        return role, f"function {name}"
    credentials = getattr(client, "_request_signer", None)
    access_key = getattr(getattr(credentials, "_credentials", None), "access_key", None)
    if access_key == "ak":  # moto's Step Functions engine signs its service calls with this key
        try:
            role, machine = g._MACHINE.get() or g.state_machine_role(region)
        except LookupError:
            return None  # an execution outliving its emulator (a test ended): nothing to check against
        return role, f"state machine {machine.rsplit(':', 1)[-1]}"
    return None


def _record(client: Any, operation: str, params: dict[str, Any]) -> None:
    region = client.meta.region_name
    principal = _principal_of(client, region)
    if principal is None:
        return
    role, caller = principal
    prefix = definitions.iam_prefix(client.meta.service_model.signing_name)
    g.GATE.calls.append(f"{caller}: {prefix}.{operation}")
    try:
        checks = checks_for(role, caller, prefix, operation, params, region)
    except definitions.UnknownOperation as exc:
        g.GATE.unknown.append(f"{caller}: {exc}")
        return
    for check in checks:
        g.GATE.evaluate(check)


@contextmanager
def installed(router_class: Any) -> Iterator[g.Gate]:
    """Record while the block runs (the whole test session)."""
    from botocore.client import BaseClient
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as dmap,
    )
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_call = BaseClient._make_api_call
    original_invoke = router_class.invoke
    original_submit = concurrent.futures.ThreadPoolExecutor.submit
    original_job = dmap.DistributedItemProcessorWorker._eval_job
    original_execution = ExecutionWorker._execution_logic
    original_thread_start = threading.Thread.start

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if not getattr(g._PAUSED, "on", False):
            g._PAUSED.on = True
            try:
                _record(self, operation_name, api_params)
            except Exception as exc:  # never disturb the call: report it as a gate failure instead
                g.GATE.unknown.append(f"{operation_name} not checked: {exc!r}")
            finally:
                g._PAUSED.on = False
        return original_call(self, operation_name, api_params)

    def invoke(router: Any, function: Any, event: Any) -> Any:
        role = str(function.role)
        token = g._FUNCTION.set((function.function_name, role))
        try:
            try:
                _environment_key_check(function, role)
            except Exception as exc:  # never disturb the invocation: report it as a gate failure
                g.GATE.unknown.append(f"environment key of {function.function_name} not checked: {exc!r}")
            return original_invoke(router, function, event)
        finally:
            g._FUNCTION.reset(token)

    def submit(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        context = contextvars.copy_context()  # worker threads keep the calling function's identity
        return original_submit(executor, context.run, fn, *args, **kwargs)

    def execution_logic(worker: Any) -> Any:
        """An execution runs as its machine's role (not as whoever started it)."""
        details = worker._evaluation_details
        machine = g._MACHINE.set((details.aws_execution_details.role_arn, details.state_machine_details.arn))
        function = g._FUNCTION.set(None)
        try:
            return original_execution(worker)
        finally:
            g._FUNCTION.reset(function)
            g._MACHINE.reset(machine)

    def thread_start(thread: Any) -> Any:
        """The engine's threads (states, Map iterations) keep their execution's identity."""
        if g._MACHINE.get() is not None:
            context, run = contextvars.copy_context(), thread.run
            thread.run = lambda: context.run(run)
        return original_thread_start(thread)

    def eval_job(worker: Any, env: Any, job: Any) -> Any:
        try:
            _record_child_execution(env)
        except Exception as exc:  # never disturb the engine: report it as a gate failure instead
            g.GATE.unknown.append(f"Distributed Map child execution not checked: {exc!r}")
        return original_job(worker, env, job)

    def _record_child_execution(env: Any) -> None:
        machine_id = env.states.context_object.context_object_data["StateMachine"]["Id"]
        region = machine_id.split(":")[3]
        role, machine = g.state_machine_role(region, machine_id)
        why = "a Distributed Map runs each item as a child execution of the state machine"
        check = g.Check(
            role,
            f"state machine {machine.rsplit(':', 1)[-1]}",
            "states.StartExecution (Distributed Map child)",
            "states:StartExecution",
            machine,
            base_context(role, region),
            why,
        )
        g.GATE.evaluate(check)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    router_class.invoke = invoke
    concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
    dmap.DistributedItemProcessorWorker._eval_job = eval_job
    ExecutionWorker._execution_logic = execution_logic  # type: ignore[method-assign]
    threading.Thread.start = thread_start  # type: ignore[method-assign]
    try:
        yield g.GATE
    finally:
        BaseClient._make_api_call = original_call  # type: ignore[method-assign]
        router_class.invoke = original_invoke
        concurrent.futures.ThreadPoolExecutor.submit = original_submit  # type: ignore[method-assign]
        dmap.DistributedItemProcessorWorker._eval_job = original_job
        ExecutionWorker._execution_logic = original_execution  # type: ignore[method-assign]
        threading.Thread.start = original_thread_start  # type: ignore[method-assign]


def _environment_key_check(function: Any, role: str) -> None:
    """A function whose environment is encrypted with a customer key decrypts it at start with
    its own role."""
    key = g.function_environment_key(function.function_name, function.region)
    why = "the environment is encrypted with a customer key (KmsKeyArn): Lambda decrypts it as the role"
    for check in _kms(
        role,
        f"function {function.function_name}",
        "lambda start (environment)",
        key,
        ("Decrypt",),
        "lambda",
        function.region,
        why,
    ):
        g.GATE.evaluate(check)
