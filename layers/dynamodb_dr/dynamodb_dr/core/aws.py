"""Endpoint-aware boto3 client factory and translation of AWS errors into named errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

from dynamodb_dr.core import errors

if TYPE_CHECKING:  # dev-only stubs (types-boto3): every call's parameters and response are typed
    from boto3.session import Session
    from types_boto3_application_autoscaling import ApplicationAutoScalingClient
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient
    from types_boto3_kinesis import KinesisClient
    from types_boto3_kms import KMSClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from types_boto3_s3 import S3Client
    from types_boto3_service_quotas import ServiceQuotasClient
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient
    from types_boto3_ssm import SSMClient
    from types_boto3_stepfunctions import SFNClient
    from types_boto3_sts import STSClient

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "TableNotFoundException"})
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
LIMIT_CODES = frozenset({"LimitExceededException", "BackupInUseException"})


@dataclass
class AwsClients:
    """Creates boto3 clients lazily, once per service.

    `endpoint_url` (or the standard AWS_ENDPOINT_URL variables boto3 reads itself) points every
    client at an emulator; `session` lets tests inject credentials or a region.
    """

    region_name: str | None = None
    endpoint_url: str | None = None
    session: Session | None = None
    max_attempts: int = 5
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _session(self) -> Any:
        """One boto3 session per instance: creating one loads botocore's data (slow).

        Returned untyped: the factory passes the service name as a plain str; `client()`'s
        overloads give callers the typed client."""
        if self.session is None:
            import boto3

            self.session = boto3.session.Session(region_name=self.region_name)
        return self.session

    @overload
    def client(self, service: Literal["dynamodb"], *, retries: bool = True) -> DynamoDBClient: ...
    @overload
    def client(
        self, service: Literal["dynamodbstreams"], *, retries: bool = True
    ) -> DynamoDBStreamsClient: ...
    @overload
    def client(self, service: Literal["s3"], *, retries: bool = True) -> S3Client: ...
    @overload
    def client(self, service: Literal["ssm"], *, retries: bool = True) -> SSMClient: ...
    @overload
    def client(self, service: Literal["sns"], *, retries: bool = True) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"], *, retries: bool = True) -> SQSClient: ...
    @overload
    def client(self, service: Literal["lambda"], *, retries: bool = True) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"], *, retries: bool = True) -> SFNClient: ...
    @overload
    def client(self, service: Literal["cloudwatch"], *, retries: bool = True) -> CloudWatchClient: ...
    @overload
    def client(
        self, service: Literal["application-autoscaling"], *, retries: bool = True
    ) -> ApplicationAutoScalingClient: ...
    @overload
    def client(self, service: Literal["kinesis"], *, retries: bool = True) -> KinesisClient: ...
    @overload
    def client(self, service: Literal["kms"], *, retries: bool = True) -> KMSClient: ...
    @overload
    def client(self, service: Literal["sts"], *, retries: bool = True) -> STSClient: ...
    @overload
    def client(self, service: Literal["cloudformation"], *, retries: bool = True) -> CloudFormationClient: ...
    @overload
    def client(
        self, service: Literal["resourcegroupstaggingapi"], *, retries: bool = True
    ) -> ResourceGroupsTaggingAPIClient: ...
    @overload
    def client(self, service: Literal["service-quotas"], *, retries: bool = True) -> ServiceQuotasClient: ...
    def client(self, service: str, *, retries: bool = True) -> Any:
        """A cached client. `retries=False` gives a single-attempt client, for calls that are not
        idempotent (a retried CreateBackup whose first response was lost makes a second backup)."""
        key = service if retries else f"{service}#single-attempt"
        if key not in self._cache:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "total_max_attempts": self.max_attempts if retries else 1},
                connect_timeout=5,
                read_timeout=30,
                user_agent_extra="dynamodb-dr",
            )
            kwargs: dict[str, Any] = {"config": config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._cache[key] = self._session().client(service, **kwargs)
        return self._cache[key]

    def session_resource(self, service: str) -> Any:
        """A boto3 resource (high-level API) on the same session and endpoint."""
        kwargs: dict[str, Any] = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
        return self._session().resource(service, **kwargs)


@cache
def _warm_clients(region_name: str | None, endpoint_url: str | None) -> AwsClients:
    return AwsClients(region_name=region_name, endpoint_url=endpoint_url)


def warm_clients(environ: Mapping[str, str]) -> AwsClients:
    """Clients created on a handler's first invocation and reused while its environment is warm
    (building a session and clients costs more than most invocations' work); keyed by region and
    endpoint, so an emulator and AWS never share one."""
    return _warm_clients(environ.get("AWS_REGION"), environ.get("AWS_ENDPOINT_URL"))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def translate(exc: Exception, *, table: str | None = None) -> errors.DynamoDbDrError:
    """Map a botocore error onto the tool's named errors."""
    # Hand-written on purpose: botocore raises one ClientError class; Step Functions Catch needs names.
    if isinstance(exc, errors.DynamoDbDrError):
        return exc
    code = error_code(exc)
    message = f"{code}: {exc}"
    if code in NOT_FOUND_CODES:
        return errors.TableNotFound(message, table=table)
    if code in ACCESS_DENIED_CODES:
        return errors.AccessDenied(message, table=table)
    if code in LIMIT_CODES:
        return errors.LimitExceeded(message, table=table)
    if code in TRANSIENT_CODES or _is_connection_error(exc):
        return errors.TransientAwsError(message, table=table)
    return errors.AwsCallFailed(message, table=table)


def _is_connection_error(exc: Exception) -> bool:
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - botocore is always present at runtime
        return False
    return isinstance(exc, BotoConnectionError | ReadTimeoutError)


@contextmanager
def aws_errors(*, table: str | None = None) -> Iterator[None]:
    """Re-raise AWS client errors inside the block as named errors."""
    try:
        yield
    except errors.DynamoDbDrError:
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError):
            raise translate(exc, table=table) from exc
        raise
