"""Turn template.yaml into CloudFormation offline (samtranslator) and deploy it into moto.

The same transform feeds the template tests, so what the tests assert on is what gets deployed.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.emulator.handlers import HandlerSpec
from dynamodb_dr_local.emulator.postdeploy import apply_post_deploy

ARTIFACT_BUCKET = "dynamodb-dr-emulator-artifacts"
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"


class _NoManagedPolicies:
    """samtranslator asks IAM for managed policy ARNs; offline there are none to look up."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class TransformedTemplate:
    cloudformation: dict[str, Any]
    code_dirs: dict[str, Path] = field(default_factory=dict)  # logical id -> local CodeUri


def load_sam_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse(path.read_text()))


def transform_template(
    path: Path = DEFAULT_TEMPLATE, parameters: dict[str, str] | None = None
) -> TransformedTemplate:
    """samtranslator transform, offline: local code paths become s3:// placeholders and
    DefinitionUri files are inlined, as `sam validate` does."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # samtranslator needs a region
    sam = copy.deepcopy(load_sam_template(path))
    base = path.parent
    code_dirs: dict[str, Path] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                code_dirs[logical_id] = (base / props[key]).resolve()
                props[key] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        if isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((base / props.pop("DefinitionUri")).read_text())
    globals_function = sam.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        raise ValueError("Globals.Function.CodeUri is not supported by the emulator")
    cfn = transform(sam, parameters or {}, _NoManagedPolicies())
    return TransformedTemplate(cloudformation=dict(cfn), code_dirs=code_dirs)


def _zip_of(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(directory.rglob("*.py")):
            archive.write(file, file.relative_to(directory).as_posix())
        if not archive.namelist():
            archive.writestr("README", "empty")
    return buffer.getvalue()


@dataclass
class DeployedStack:
    name: str
    resources: dict[str, str]  # logical id -> physical id
    outputs: dict[str, str]
    parameters: dict[str, str]
    template: TransformedTemplate

    def physical(self, logical_id: str) -> str:
        return self.resources[logical_id]


def deploy_stack(
    clients: Any,
    router: Any,
    *,
    stack_name: str = "dynamodb-dr",
    parameters: dict[str, str],
    template_path: Path = DEFAULT_TEMPLATE,
) -> DeployedStack:
    """Create the stack in the emulated account and wire its functions to their handlers."""
    template = transform_template(template_path, parameters)
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    for logical_id, directory in template.code_dirs.items():
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=_zip_of(directory))
        resource = template.cloudformation["Resources"].get(logical_id, {})
        handler = resource.get("Properties", {}).get("Handler")
        if handler:  # custom resources run during create_stack, before the functions are registered
            router.expect_code(f"{logical_id}.zip", HandlerSpec(directory, handler))
    cfn = clients.client("cloudformation")
    with warnings.catch_warnings():
        # moto skips AWS::Scheduler::Schedule; the emulator fires schedule ticks itself.
        warnings.simplefilter("ignore", UserWarning)
        logging.getLogger("moto").setLevel(logging.ERROR)
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template.cloudformation),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"emulated stack {stack_name} ended {stack['StackStatus']}")
    resources = {
        r.get("LogicalResourceId", ""): r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "PhysicalResourceId" in r  # resources moto skipped have no ids
    }
    # moto skips bucket policies and most bucket settings: apply them from the template.
    apply_post_deploy(clients, template.cloudformation, resources, parameters, stack_name=stack_name)
    _key_policies_as_text()
    cfn_resources = template.cloudformation["Resources"]
    for logical_id, resource in cfn_resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        code_dir = template.code_dirs.get(logical_id)
        if code_dir is None:
            continue
        router.register(resources[logical_id], HandlerSpec(code_dir, resource["Properties"]["Handler"]))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(stack_name, resources, outputs, dict(parameters), template)


def _key_policies_as_text() -> None:
    """moto's CloudFormation keeps an AWS::KMS::Key's KeyPolicy as a dict, which its own
    DescribeKey then fails to parse: store it as the JSON text KMS keeps."""
    from moto.kms.models import kms_backends

    for regions in kms_backends.values():
        for backend in regions.values():
            for key in backend.keys.values():
                if isinstance(key.policy, dict):
                    key.policy = json.dumps(key.policy)
