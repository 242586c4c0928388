"""What the ASL tests of the restore and repair state machines share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Lambda's transient invocation errors and the tool's own: the only errors a Retry may name.
TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientAwsError",
}


def scopes(machine: dict[str, Any], enclosing_catch: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Each state machine scope (top level, Map processors, Parallel branches), with whether an
    enclosing state's Catch covers its tasks."""
    yield machine, enclosing_catch
    for state in machine["States"].values():
        inner = [state["ItemProcessor"]] if "ItemProcessor" in state else state.get("Branches", [])
        for sub in inner:
            yield from scopes(sub, enclosing_catch or bool(state.get("Catch")))


def transition_targets(scope: dict[str, Any]) -> set[str]:
    """The scope's StartAt and every state a Next, Default, Choice or Catch names (each must exist)."""
    states = scope["States"]
    targets = {scope["StartAt"]}
    for name, state in states.items():
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        for target in filter(None, nexts):
            assert target in states, f"{name} -> {target}"
            targets.add(target)
    return targets
