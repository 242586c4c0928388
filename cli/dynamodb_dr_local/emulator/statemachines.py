"""Step Functions fidelity hooks for the emulator's ASL engine.

- CloudFormation state machines: moto's `AWS::StepFunctions::StateMachine` ignores
  `DefinitionSubstitutions` and registers the machine in the plain backend, while
  `execute_state_machine` serves the API from the parser backend: the machine is invisible and
  its `${...}` placeholders stay. The hook substitutes and registers it where the API looks.
- StopExecution: on AWS the execution is ABORTED at once, with the error and cause given (an
  in-flight Lambda call still runs, its result ignored). moto drops error and cause, and a stop
  that lands during a Task state ends the run FAILED with a `States.Runtime` error from its own
  engine. The hook records the stop and keeps the execution ABORTED with its error and cause.
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
        self._install_stop()

    def _install_stop(self) -> None:
        from moto.core.responses import ActionResult
        from moto.core.utils import utcnow
        from moto.stepfunctions.exceptions import ExecutionDoesNotExist
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
        from moto.stepfunctions.responses import StepFunctionResponse

        def stop_execution(handler: Any) -> Any:
            arn = handler._get_param("executionArn")
            backend = handler.stepfunction_backend
            machine = backend._get_state_machine_for_execution(arn)
            execution = next((x for x in machine.executions if x.execution_arn == arn), None)
            if execution is None:
                raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
            stop_date = utcnow()
            if str(getattr(execution, "status", "")) == "RUNNING":
                error, cause = handler._get_param("error"), handler._get_param("cause")
                execution.stop(stop_date=stop_date, error=error, cause=cause)
                execution._dr_stop = (stop_date, error, cause)
                _mark_aborted(execution, ExecutionStatus.ABORTED)
            return ActionResult({"stopDate": stop_date})

        original: Any = BaseExecutionWorkerCommunication._reflect_execution_status

        def reflect(communication: Any) -> None:
            original(communication)
            _mark_aborted(communication.execution, ExecutionStatus.ABORTED)

        self._set(StepFunctionResponse, "stop_execution", stop_execution)
        self._set(BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect)


def _mark_aborted(execution: Any, aborted: Any) -> None:
    stop = getattr(execution, "_dr_stop", None)
    if stop is not None:
        execution.stop_date, execution.error, execution.cause = stop
        execution.exec_status = aborted
