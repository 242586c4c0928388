"""The condition a repair write carries: "the item is still what the plan saw" (its guard).

DynamoDB cannot compare a whole item in a condition, so the guard's attributes are compared one
by one (`=` is by value, sets unordered), attributes the key had in the window but the guard
lacks must still be absent, and an absent guard means `attribute_not_exists` of the key. The
expression string may hold 4 KB: attributes past that budget are left to the consistent read the
writer makes just before each batch of writes (which compares the whole item).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EXPRESSION_BUDGET = 3800  # bytes; DynamoDB allows 4 KB per expression string


@dataclass
class Condition:
    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    covered: bool = True  # False: some attributes were left to the read before the write

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "ConditionExpression": self.expression,
            "ExpressionAttributeNames": self.names,
        }
        if self.values:
            request["ExpressionAttributeValues"] = self.values
        return request


def guard_condition(
    guard: Mapping[str, Any] | None, key_names: Sequence[str], absent: Sequence[str] = ()
) -> Condition:
    """`guard` in client form (None: the item must not exist)."""
    if guard is None:
        return Condition("attribute_not_exists(#k0)", {"#k0": key_names[0]})
    condition = Condition("attribute_exists(#k0)", {"#k0": key_names[0]})
    clauses = [condition.expression]
    compared = sorted(n for n in guard if n not in key_names)
    _add_within_budget(
        condition,
        clauses,
        ((f"#a{i} = :v{i}", {f"#a{i}": name}, {f":v{i}": guard[name]}) for i, name in enumerate(compared)),
    )
    missing = sorted(set(absent) - set(guard) - set(key_names))
    _add_within_budget(
        condition,
        clauses,
        ((f"attribute_not_exists(#x{i})", {f"#x{i}": name}, {}) for i, name in enumerate(missing)),
    )
    condition.expression = " AND ".join(clauses)
    return condition


def _add_within_budget(
    condition: Condition, clauses: list[str], candidates: Iterable[tuple[str, dict[str, str], dict[str, Any]]]
) -> None:
    """Append each (clause, names, values) while the joined expression stays within the budget; the
    first that does not fit ends this group (a later, shorter group may still fit)."""
    length = len(" AND ".join(clauses))
    for clause, names, values in candidates:
        if length + len(clause) + 5 > EXPRESSION_BUDGET:  # 5: " AND "
            condition.covered = False
            return
        clauses.append(clause)
        length += len(clause) + 5
        condition.names.update(names)
        condition.values.update(values)
