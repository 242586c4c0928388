"""The transformed template the template tests read: transformed once, shared by every module."""

from __future__ import annotations

from functools import cache
from typing import Any

from dynamodb_dr_local.emulator import transform_template

PARAMETERS = {"ProtectedTables": "customers,orders"}


@cache
def cfn() -> dict[str, Any]:
    return transform_template(parameters=PARAMETERS).cloudformation


def statements(role: str) -> dict[str, dict[str, Any]]:
    """The role's inline policy statements that have a Sid, by Sid."""
    policies = cfn()["Resources"][role]["Properties"]["Policies"]
    return {s["Sid"]: s for p in policies for s in p["PolicyDocument"]["Statement"] if "Sid" in s}
