"""Protected tables: stable logical names, the live physical table each one points to, and the
fleet (the names given at deploy plus every table tagged for the stack).

Applications read `<ssm_prefix>/tables/<logical>/live-table` (built only by `core.paths`) to find
their table. Until a restore cuts over, the parameter holds the logical name itself (the original
table). Only the restore cutover writes these parameters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynamodb_dr.core import paths
from dynamodb_dr.core.aws import AwsClients, aws_errors, error_code, warm_clients
from dynamodb_dr.core.config import LOGICAL_NAME_PATTERN, Settings
from dynamodb_dr.core.errors import TableNotProtected

if TYPE_CHECKING:
    from types_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
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
        """Every protected table's live table: one paginated read of the pointer folder (10 per
        page) instead of one GetParameter per table, which a fleet of hundreds would throttle."""
        prefix = self._settings.ssm_prefix
        pointers: dict[str, str] = {}
        with aws_errors():
            pages = self._ssm.get_paginator("get_parameters_by_path").paginate(
                Path=paths.pointers_prefix(prefix).rstrip("/"), Recursive=True
            )
            for page in pages:
                for parameter in page.get("Parameters", []):
                    logical = paths.logical_name_of(prefix, parameter["Name"])
                    if logical:
                        pointers[logical] = parameter["Value"]
        return [
            ProtectedTable(
                name, pointers.get(name, name), self._settings.live_table_parameter(name), name in pointers
            )
            for name in self._settings.protected_tables
        ]

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


def tagged_tables(settings: Settings, tagging: ResourceGroupsTaggingAPIClient) -> tuple[str, ...]:
    return tables_tagged_for(settings.stack, tagging)


def tables_tagged_for(stack: str, tagging: ResourceGroupsTaggingAPIClient) -> tuple[str, ...]:
    """Tables tagged `dynamodb-dr:protect=<stack>` in this account and region (as AWS Backup selects
    by tag), leaving out the tables a restore created (they carry `dynamodb-dr:restored-from`)."""
    names: set[str] = set()
    with aws_errors():
        pages = tagging.get_paginator("get_resources").paginate(
            ResourceTypeFilters=["dynamodb:table"],
            TagFilters=[{"Key": paths.PROTECT_TAG_KEY, "Values": [stack]}],
        )
        for page in pages:
            for resource in page.get("ResourceTagMappingList", []):
                keys = {tag["Key"] for tag in resource.get("Tags", [])}
                name = resource.get("ResourceARN", "").partition(":table/")[2]
                if name and "/" not in name and paths.RESTORED_FROM_TAG_KEY not in keys:
                    names.add(name)
    return tuple(sorted(names))


# Per warm container: (state table, stack) -> (read at, tagged names). Keyed by the state table
# too, so two deployments (or two emulated accounts in one test process) never share an entry.
_FLEET_CACHE: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}


def with_fleet[S: Settings](settings: S, clients: AwsClients, *, max_age_seconds: float = 0) -> S:
    """The settings with `protected_tables` = the deploy-time names plus every table tagged for
    the stack. Names a logical name cannot take (over 200 characters) are left out.

    `max_age_seconds` lets a hot path (the CDC archiver, once per stream batch) reuse a recent
    read; scheduled runs read the tags fresh.
    """
    key = (settings.state_table, settings.stack)
    cached = _FLEET_CACHE.get(key)
    now = time.monotonic()
    if cached and max_age_seconds > 0 and now - cached[0] <= max_age_seconds:
        tagged = cached[1]
    else:
        tagged = tagged_tables(settings, clients.client("resourcegroupstaggingapi"))
        _FLEET_CACHE[key] = (now, tagged)
    extra = tuple(n for n in tagged if n not in settings.protected_tables and LOGICAL_NAME_PATTERN.match(n))
    if not extra:
        return settings
    return settings.model_copy(update={"protected_tables": settings.protected_tables + extra})


def fleet_settings[S: Settings](
    settings_type: type[S], environ: Mapping[str, str], *, max_age_seconds: float = 0
) -> tuple[S, AwsClients]:
    """A handler's settings read from `environ`, with the fleet added (`with_fleet`), and its warm
    clients."""
    settings = settings_type.from_env(environ)
    clients = warm_clients(environ)
    return with_fleet(settings, clients, max_age_seconds=max_age_seconds), clients
