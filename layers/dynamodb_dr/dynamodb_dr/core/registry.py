"""Protected tables: stable logical names and the live physical table each one points to.

Applications read `<ssm_prefix>/tables/<logical>/live-table` (built only by `core.paths`) to find
their table. Until a restore cuts over, the parameter holds the logical name itself (the original
table). Only the restore cutover writes these parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import Settings
from dynamodb_dr.core.errors import TableNotProtected

if TYPE_CHECKING:
    from types_boto3_ssm import SSMClient


@dataclass(frozen=True)
class ProtectedTable:
    logical_name: str
    live_table: str
    pointer_parameter: str
    pointer_exists: bool


class TableRegistry:
    def __init__(self, settings: Settings, ssm: SSMClient) -> None:
        self._settings = settings
        self._ssm = ssm

    def require_protected(self, logical_name: str) -> None:
        if logical_name not in self._settings.protected_tables:
            raise TableNotProtected(
                f"table {logical_name!r} is not protected by this stack", table=logical_name
            )

    def resolve(self, logical_name: str) -> ProtectedTable:
        self.require_protected(logical_name)
        parameter = self._settings.live_table_parameter(logical_name)
        try:
            with aws_errors(table=logical_name):
                value = self._ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ParameterNotFound":
                raise
            return ProtectedTable(logical_name, logical_name, parameter, pointer_exists=False)
        return ProtectedTable(logical_name, value, parameter, pointer_exists=True)

    def resolve_all(self) -> list[ProtectedTable]:
        return [self.resolve(name) for name in self._settings.protected_tables]

    def policy_document(self) -> str | None:
        """The operator's policy JSON, or None when the parameter has not been created."""
        try:
            with aws_errors():
                return str(
                    self._ssm.get_parameter(Name=self._settings.policy_parameter)["Parameter"]["Value"]
                )
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterNotFound":
                return None
            raise
