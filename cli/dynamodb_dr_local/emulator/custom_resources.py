"""CloudFormation custom resources in the emulator: run the Lambda-backed resource synchronously.

moto invokes a custom resource's function in a thread (which would start Docker) and waits for
the function to PUT its answer to a response URL. This hook runs the project's handler through
the emulator's router instead and takes its answer straight from `lifecycle.send_response`, so the
stack is complete (or failed, with the handler's reason) when create_stack returns.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

RESPONSE_URL = "https://cloudformation-custom-resource-response.emulator.invalid/"


class CustomResourceError(RuntimeError):
    """A custom resource answered FAILED: the stack cannot be created."""


class CustomResourceHooks:
    def __init__(self, set_attr: Any, router: Any) -> None:
        self._set, self._router = set_attr, router

    def install(self) -> None:
        from moto.awslambda.utils import get_backend as lambda_backend
        from moto.cloudformation.custom_model import CustomModel

        router = self._router

        def create_from_cloudformation_json(
            cls: Any,
            /,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kw: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            function = lambda_backend(account_id, region_name).get_function(properties["ServiceToken"])
            resource = CustomModel(region_name, str(uuid.uuid4()), kw["LogicalId"], resource_name)  # type: ignore[abstract]
            event = {
                "RequestType": "Create",
                "ServiceToken": properties["ServiceToken"],
                "ResponseURL": RESPONSE_URL,
                "StackId": kw["StackId"],
                "RequestId": resource.request_id,
                "LogicalResourceId": kw["LogicalId"],
                "ResourceType": kw["ResourceType"],
                "ResourceProperties": properties,
            }
            answer = invoke_custom_resource(router, function, event)
            if answer.get("Status") != "SUCCESS":
                raise CustomResourceError(f"{kw['LogicalId']}: {answer.get('Reason')}")
            resource.set_data(answer.get("Data") or {})
            return resource

        create = classmethod(create_from_cloudformation_json)
        self._set(CustomModel, "create_from_cloudformation_json", create)


def invoke_custom_resource(router: Any, function: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke a custom resource handler and return the answer it sent to CloudFormation."""
    from dynamodb_dr.core import lifecycle

    answers: list[dict[str, Any]] = []
    original = lifecycle.send_response

    def capture(url: str, body: dict[str, Any]) -> None:
        answers.append(json.loads(json.dumps(body)))

    lifecycle.send_response = capture  # type: ignore[assignment]
    try:
        payload, errored, _ = router.invoke(function, json.dumps(event))
    finally:
        lifecycle.send_response = original  # type: ignore[assignment]
    if not answers:
        return {"Status": "FAILED", "Reason": f"no answer sent (errored={errored}): {payload[:300]}"}
    return answers[-1]
