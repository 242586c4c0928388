"""CloudFormation state machines for the emulator's Step Functions engine.

moto's `AWS::StepFunctions::StateMachine` ignores `DefinitionSubstitutions` and registers the
machine in the plain backend, while `execute_state_machine` serves the API from the parser
backend: the machine is invisible and its `${...}` placeholders stay. This hook substitutes and
registers it where the API (and the ASL engine) look.
"""

from __future__ import annotations

import json
from typing import Any


def substitute(definition: str, substitutions: dict[str, Any] | None) -> str:
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


class StateMachineHooks:
    def __init__(self, set_attr: Any) -> None:
        self._set = set_attr

    def install(self) -> None:
        from moto.stepfunctions.models import StateMachine
        from moto.stepfunctions.responses import get_backend
        from moto.stepfunctions.utils import cfn_to_api_tags

        def create_from_cloudformation_json(
            cls: Any,
            /,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            props = cloudformation_json["Properties"]
            definition = props.get("DefinitionString") or props.get("Definition") or {}
            if not isinstance(definition, str):
                definition = json.dumps(definition)
            return get_backend(account_id, region_name).create_state_machine(
                props.get("StateMachineName", resource_name),
                substitute(definition, props.get("DefinitionSubstitutions")),
                props.get("RoleArn", ""),
                tags=cfn_to_api_tags(props.get("Tags", [])),
                loggingConfiguration=props.get("LoggingConfiguration"),
                tracingConfiguration=props.get("TracingConfiguration"),
                sm_type=props.get("StateMachineType", "STANDARD"),
            )

        self._set(
            StateMachine, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json)
        )
