"""Live-table pointers (SSM), the tool's record of what each should hold, and the scheduled
publish that keeps them there.

Pointers fail closed: every cutover and rollback records each pointer's intended value in the
state table (`POINTER#<logical>`, sk `CURRENT`) before and after it writes it. The publish creates
a missing pointer from that record (the restored table after a cutover, never the original table by
guess), and reports a pointer that differs from its record instead of overwriting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dynamodb_dr.core.aws import aws_errors, error_code
from dynamodb_dr.core.config import Settings

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_kms import KMSClient
    from types_boto3_ssm import SSMClient


class Pointers:
    def __init__(self, ssm: SSMClient) -> None:
        self._ssm = ssm

    def get(self, parameter: str) -> str | None:
        try:
            with aws_errors():
                return str(self._ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterNotFound":
                return None
            raise

    def put(self, parameter: str, value: str) -> None:
        with aws_errors():
            self._ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)

    def delete(self, parameter: str) -> None:
        try:
            with aws_errors():
                self._ssm.delete_parameter(Name=parameter)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) != "ParameterNotFound":
                raise

    def create_if_missing(self, parameter: str, value: str) -> bool:
        """Create a pointer that does not exist yet; never overwrites one."""
        try:
            with aws_errors():
                self._ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=False)
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ParameterAlreadyExists":
                return False
            raise
        return True


@dataclass(frozen=True)
class PointerRecord:
    logical: str
    value: str | None  # what the pointer must hold (None: no pointer)
    execution: str
    # While a cutover or rollback switches it, the pointer may still hold its other value.
    switching_from: str | None = None
    switching: bool = False

    def accepts(self, current: str | None) -> bool:
        return current == self.value or (self.switching and current == self.switching_from)


class PointerRecords:
    """Items pk `POINTER#<logical>`, sk `CURRENT`."""

    def __init__(self, dynamodb: DynamoDBClient, state_table: str) -> None:
        self._ddb, self._table = dynamodb, state_table

    @staticmethod
    def _key(logical: str) -> dict[str, Any]:
        return {"pk": {"S": f"POINTER#{logical}"}, "sk": {"S": "CURRENT"}}

    def get(self, logical: str) -> PointerRecord | None:
        with aws_errors(table=logical):
            item = self._ddb.get_item(TableName=self._table, Key=self._key(logical), ConsistentRead=True).get(
                "Item"
            )
        if not item:
            return None
        return PointerRecord(
            logical=logical,
            value=item.get("value", {}).get("S"),
            execution=item["execution"]["S"],
            switching_from=item.get("switching_from", {}).get("S"),
            switching=bool(item.get("switching", {}).get("BOOL", False)),
        )

    def put(self, record: PointerRecord) -> None:
        item: dict[str, Any] = {
            **self._key(record.logical),
            "execution": {"S": record.execution},
            "switching": {"BOOL": record.switching},
        }
        if record.value is not None:
            item["value"] = {"S": record.value}
        if record.switching_from is not None:
            item["switching_from"] = {"S": record.switching_from}
        with aws_errors(table=record.logical):
            self._ddb.put_item(TableName=self._table, Item=item)


@dataclass
class PublishReport:
    created: list[str] = field(default_factory=list)  # first pointer of a table: the table itself
    restored: list[str] = field(default_factory=list)  # a deleted pointer, put back from its record
    mismatched: list[str] = field(default_factory=list)  # differs from its record: left, alarmed


def publish_pointers(settings: Settings, pointers: Pointers, records: PointerRecords) -> PublishReport:
    """Give every protected table the pointer its record says (the table itself when it has never
    been cut over). Never overwrites a pointer: one that differs from its record is reported."""
    report = PublishReport()
    for logical in settings.protected_tables:
        parameter = settings.live_table_parameter(logical)
        current, record = pointers.get(parameter), records.get(logical)
        if record is None or (record.value is None and current is None and not record.switching):
            # First publish (or a pointer written before records existed): it becomes the baseline.
            value = current or logical
            if current is None and pointers.create_if_missing(parameter, logical):
                report.created.append(parameter)
            records.put(PointerRecord(logical, value, execution="publish"))
            continue
        if record.accepts(current):
            continue
        if current is None and record.value is not None and not record.switching:
            if pointers.create_if_missing(parameter, record.value):
                report.restored.append(parameter)
            continue
        report.mismatched.append(parameter)
    return report


DISABLED_STATES = frozenset({"Disabled", "PendingDeletion", "PendingReplicaDeletion", "Unavailable"})


def key_usable(kms: KMSClient, key_arn: str) -> bool:
    """False when the data key is disabled, pending deletion or unavailable."""
    with aws_errors():
        state = kms.describe_key(KeyId=key_arn)["KeyMetadata"].get("KeyState", "Enabled")
    return state not in DISABLED_STATES
