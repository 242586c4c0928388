"""CloudFormation intrinsic functions, evaluated offline against known parameter values.

The emulator resolves what moto's CloudFormation skipped (emulator/postdeploy.py) with these, and
the template tests reuse them: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Split, Fn::Select, Fn::If
and conditions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

NO_VALUE: Any = object()  # AWS::NoValue: the key or list entry disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnsupportedIntrinsic(ValueError):
    """The template uses an intrinsic function this small resolver does not evaluate."""


class Intrinsics:
    """Evaluates CloudFormation intrinsic functions against known parameter values.

    `ref(logical_id)` and `get_att(logical_id, attribute)` give resources' values: physical ids in
    the emulator, placeholders in static template tests. `${aws:...}` IAM policy variables inside
    `Fn::Sub` strings are left as they are (IAM evaluates them, not CloudFormation).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
        pseudo: Mapping[str, str],
    ) -> None:
        self._template = template
        self._ref = ref
        self._get_att = get_att
        self._pseudo = dict(pseudo)
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = parameters.get(name, spec.get("Default"))
            if raw is None:
                continue
            raw = str(raw) if not isinstance(raw, list) else raw
            if spec.get("Type") == "CommaDelimitedList" and isinstance(raw, str):
                self.parameters[name] = [part.strip() for part in raw.split(",")]
            else:
                self.parameters[name] = raw
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self._template.get("Conditions", {}).get(name)
            if spec is None:
                raise UnsupportedIntrinsic(f"unknown condition {name!r}")
            self._conditions[name] = bool(self._condition_value(spec))
        return self._conditions[name]

    def _condition_value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._condition_value(value[0])
            if key == "Fn::And":
                return all(self._condition_value(v) for v in value)
            if key == "Fn::Or":
                return any(self._condition_value(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return self.resolve(node)

    # ------------------------------------------------------------------ values
    def resolve(self, node: Any) -> Any:
        """The value of `node`, with every intrinsic evaluated (NO_VALUE entries removed)."""
        if isinstance(node, list):
            resolved = [self.resolve(item) for item in node]
            return [item for item in resolved if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._resolve_ref(value)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, value)
        resolved_dict = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved_dict.items() if value is not NO_VALUE}

    def _resolve_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self._template.get("Resources", {}):
            return self._ref(name)
        raise UnsupportedIntrinsic(f"Ref to unknown name {name!r}")

    def _function(self, key: str, value: Any) -> Any:  # noqa: PLR0911 - one branch per function
        if key == "Fn::GetAtt":
            logical_id, attribute = value.split(".", 1) if isinstance(value, str) else value
            return self._get_att(logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
            return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
        if key == "Fn::Join":
            separator, items = value
            parts = self.resolve(items)
            return str(separator).join(str(part) for part in parts)
        if key == "Fn::Split":
            separator, text = value
            return str(self.resolve(text)).split(separator)
        if key == "Fn::Select":
            index, items = value
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::If":
            name, when_true, when_false = value
            return self.resolve(when_true if self.condition(name) else when_false)
        if key in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
            return self._condition_value({key: value})
        raise UnsupportedIntrinsic(f"{key} is not supported")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name in self._pseudo or name in self.parameters:
                value = self._resolve_ref(name)
                return ",".join(value) if isinstance(value, list) else str(value)
            if "." in name and name.split(".", 1)[0] in self._template.get("Resources", {}):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            if name in self._template.get("Resources", {}):
                return str(self._ref(name))
            if ":" in name and "::" not in name:
                return match.group(0)  # an IAM policy variable such as ${aws:PrincipalAccount}
            raise UnsupportedIntrinsic(f"Fn::Sub variable {name!r} is unknown")

        return _SUB_VARIABLE.sub(replace, text)

    def is_active(self, resource: Mapping[str, Any]) -> bool:
        """False when the resource has a `Condition` that evaluates to false."""
        name = resource.get("Condition")
        return True if name is None else self.condition(name)


# ---------------------------------------------------------------------- emulator side
def emulator_intrinsics(
    template: Mapping[str, Any],
    resources: Mapping[str, str],
    parameters: Mapping[str, str],
    *,
    stack_name: str,
    region: str,
    account_id: str,
) -> Intrinsics:
    """Intrinsics resolved against a stack deployed in the emulator (physical ids known)."""
    types = {logical: spec.get("Type", "") for logical, spec in template.get("Resources", {}).items()}

    def ref(logical_id: str) -> str:
        return resources[logical_id]

    def get_att(logical_id: str, attribute: str) -> str:
        if types.get(logical_id) == "AWS::S3::Bucket":
            if attribute == "Arn":
                return f"arn:aws:s3:::{resources[logical_id]}"
            if attribute == "DomainName":
                return f"{resources[logical_id]}.s3.amazonaws.com"
        if types.get(logical_id) == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{region}:{account_id}:key/{resources[logical_id]}"
        raise UnsupportedIntrinsic(f"Fn::GetAtt {logical_id}.{attribute} is not resolved after deploy")

    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    return Intrinsics(template, parameters, ref=ref, get_att=get_att, pseudo=pseudo)
