"""The stack's SSM parameter paths: the one place that builds them (template.yaml mirrors them).

`/dynamodb-dr/<stack>` is the stack's prefix (the template's `SSM_PREFIX`); under it live the
operator's policy document and one live-table pointer per protected table.
"""

from __future__ import annotations

ROOT = "/dynamodb-dr"
# Tables carrying this tag with the stack's name as value are protected by that stack; IAM grants
# the stack's roles their table rights through it (aws:ResourceTag).
PROTECT_TAG_KEY = "dynamodb-dr:protect"
# Set by the restore on every table it creates: such a table is a restore, never a logical table.
RESTORED_FROM_TAG_KEY = "dynamodb-dr:restored-from"


def stack_prefix(stack_name: str) -> str:
    """`/dynamodb-dr/<stack>`: every parameter of one stack lives under it."""
    return f"{ROOT}/{stack_name}"


def policy_parameter(ssm_prefix: str) -> str:
    return f"{ssm_prefix.rstrip('/')}/policy"


def pointers_prefix(ssm_prefix: str) -> str:
    """The folder of every live-table pointer of a stack (ends with `/`)."""
    return f"{ssm_prefix.rstrip('/')}/tables/"


def live_table_parameter(ssm_prefix: str, logical_name: str) -> str:
    """The live-table pointer of one logical table: applications read their table's name here."""
    return f"{pointers_prefix(ssm_prefix)}{logical_name}/live-table"


def logical_name_of(ssm_prefix: str, parameter: str) -> str | None:
    """The logical table a pointer parameter belongs to, or None if it is not a pointer."""
    prefix, suffix = pointers_prefix(ssm_prefix), "/live-table"
    if not (parameter.startswith(prefix) and parameter.endswith(suffix)):
        return None
    name = parameter[len(prefix) : -len(suffix)]
    return name if name and "/" not in name else None
